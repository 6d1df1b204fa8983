import TesseraParallel
import TesseraTensor

/// How the next token is chosen from the logits.
public struct SamplingOptions: Sendable, Hashable, Codable {
    /// Divides the logits before the softmax; `0` is greedy decoding (the arg-max, lowest id on ties).
    public var temperature: Float
    /// Keep only the `topK` most probable tokens (`nil`: all).
    public var topK: Int?
    /// Keep the smallest set of most probable tokens whose probability reaches `topP` (nucleus sampling,
    /// Holtzman et al. 2020; `nil`: all).
    public var topP: Float?
    /// Draw `n` uses the uniform number at index `n` of the stream `(seed, "sampling")`, so a seed fixes
    /// the whole continuation, on every rank alike.
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int? = nil, topP: Float? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` for a negative temperature, `topK < 1`, or
    ///   `topP` outside `(0, 1]`.
    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else {
            throw TrainingError.invalid(.temperature, "\(temperature) must be 0 (greedy) or positive")
        }
        if let topK { try TrainingError.requireAtLeastOne(topK, option: TrainingSetting.topK.name) }
        if let topP, !(topP > 0 && topP <= 1) {
            throw TrainingError.invalid(.topP, "\(topP) must lie in (0, 1]")
        }
    }
}

/// Picks tokens from logits as ``SamplingOptions`` says, deterministically.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    private let random: DeterministicRandom

    public init(options: SamplingOptions) {
        self.options = options
        self.random = DeterministicRandom(seed: options.seed, stream: "sampling")
    }

    /// The token for draw `draw` (from 0) given `logits` over the vocabulary.
    ///
    /// Candidates are weighted by exp((logit − max) / T). Plain sampling walks them in vocabulary order; with
    /// top-k or top-p they are walked in descending probability (ties by id), the top-k cut first, then the
    /// nucleus: the fewest leading candidates whose share of the total weight (the kept top-k's, else the whole
    /// vocabulary's) reaches `topP`. A `topP` of 1 cuts nothing and is plain sampling. Only the candidates a cut
    /// can keep are ever sorted (``mostProbable(_:count:)``), so a 49,152-token vocabulary costs no full sort.
    public func sample(_ logits: UnsafeBufferPointer<Float>, draw: Int) -> Int32 {
        precondition(!logits.isEmpty, "no logits to sample from")
        guard options.temperature > 0 else { return Int32(Self.argmax(logits)) }
        let top = Double(logits[Self.argmax(logits)]), temperature = Double(options.temperature)
        let weight = { (id: Int) in exp((Double(logits[id]) - top) / temperature) }
        let topP = options.topP.flatMap { $0 < 1 ? $0 : nil }
        var order: [Int], weights: [Double]
        if let k = options.topK {
            order = Self.mostProbable(logits, count: k)
            weights = order.map(weight)
            if let topP {
                let keep = Self.nucleusCount(weights, total: weights.reduce(0, +), p: topP) ?? weights.count
                order.removeSubrange(keep...)
                weights.removeSubrange(keep...)
            }
        } else if let topP {
            (order, weights) = Self.nucleus(logits, p: topP, weight: weight)
        } else {
            order = Array(logits.indices)
            weights = order.map(weight)
        }
        let target = Double(random.uniform(at: draw)) * weights.reduce(0, +)
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            if target < cumulative { return Int32(order[i]) }
        }
        return Int32(order[weights.count - 1])
    }

    /// Index of the largest value (the lowest index among equals; ``Kernels/argmax(_:count:)``).
    static func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
        Kernels.argmax(values.baseAddress!, count: values.count)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
