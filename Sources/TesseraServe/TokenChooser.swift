import TesseraTrain

/// Picks one sequence's next tokens: penalties on its generated tokens, then its own ``Sampler`` (so a seeded
/// sequence draws the same tokens whatever else runs beside it), and the log-probabilities it asked for.
package struct TokenChooser {
    private let sampler: Sampler
    private let presencePenalty: Float
    private let frequencyPenalty: Float
    private let topLogprobs: Int?
    /// How often each token was generated so far.
    private var counts: [Int32: Int] = [:]
    private var draws = 0

    package init(_ request: SequenceRequest) {
        sampler = Sampler(options: request.sampling)
        presencePenalty = request.presencePenalty
        frequencyPenalty = request.frequencyPenalty
        topLogprobs = request.topLogprobs
    }

    /// The token after `logits` (the model's raw logits over the vocabulary).
    package mutating func next(_ logits: [Float]) -> GeneratedToken {
        var adjusted = logits
        if presencePenalty != 0 || frequencyPenalty != 0 {
            for (id, count) in counts {
                adjusted[Int(id)] -= presencePenalty + frequencyPenalty * Float(count)
            }
        }
        let id = adjusted.withUnsafeBufferPointer { sampler.sample($0, draw: draws) }
        draws += 1
        counts[id, default: 0] += 1
        guard let topLogprobs else { return GeneratedToken(id: id) }
        return Self.scored(id, logits: logits, top: topLogprobs)
    }

    /// Token `id` with its log-probability under `logits` (log-softmax of the raw logits) and the `top` most likely
    /// alternatives'.
    package static func scored(_ id: Int32, logits: [Float], top: Int) -> GeneratedToken {
        let normalizer = logSumExp(logits)
        let alternatives = logits.withUnsafeBufferPointer { Sampler.mostProbable($0, count: top) }
            .map { TokenLogprob(id: Int32($0), logprob: logits[$0] - normalizer) }
        return GeneratedToken(id: id, logprob: logits[Int(id)] - normalizer, top: alternatives)
    }

    /// log Σ exp(x), computed from the maximum (stable for any logits).
    package static func logSumExp(_ values: [Float]) -> Float {
        let top = values.max() ?? 0
        var sum = 0.0
        for value in values { sum += exp(Double(value - top)) }
        return top + Float(log(sum))
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
