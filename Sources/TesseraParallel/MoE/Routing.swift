import Foundation

/// The routing decisions of `tokens` tokens: for each token, `topK` global expert ids (`-1`: dropped by
/// capacity) and the combine weights an expert layer multiplies their outputs by, both `[tokens, topK]`,
/// each token's choices in descending score order (forced balance: in
/// ``RoutingMath/forcedExperts(position:k:experts:into:)``'s order).
public struct Routing: Sendable, Hashable {
    public let tokens: Int
    public let topK: Int
    /// `[tokens, topK]` global expert ids, `-1` where capacity dropped the assignment.
    public var experts: [Int32]
    /// `[tokens, topK]` combine weights (0 where dropped).
    public var weights: [Float]
    /// `[tokens, topK]` the experts top-k chose before capacity dropped any (what the load-balancing loss counts
    /// and the renormalization divides by).
    public var selected: [Int32]

    public init(tokens: Int, topK: Int) {
        self.tokens = tokens
        self.topK = topK
        experts = Array(repeating: -1, count: tokens * topK)
        weights = Array(repeating: 0, count: tokens * topK)
        selected = experts
    }
}

/// The pure index and probability math of a mixture-of-experts router on one token at a time: scores from
/// logits, top-k, renormalization, capacity drops and the backward pass from combine-weight gradients to logits.
/// Nothing here communicates or allocates per token.
public enum RoutingMath {
    /// Softmax of `logits` `[experts]` into `probabilities`; returns the log-sum-exp (for the z-loss).
    @discardableResult
    public static func softmax(_ logits: UnsafePointer<Float>, into probabilities: UnsafeMutablePointer<Float>, experts: Int) -> Float {
        var maximum = -Float.infinity
        for e in 0..<experts { maximum = max(maximum, logits[e]) }
        var sum = 0.0
        for e in 0..<experts {
            probabilities[e] = exp(logits[e] - maximum)
            sum += Double(probabilities[e])
        }
        let inverse = Float(1 / sum)
        for e in 0..<experts { probabilities[e] *= inverse }
        return maximum + Float(log(sum))
    }

    /// The `k` largest `scores` `[experts]` in descending order (ties: the lower expert id first), as ids.
    public static func topK(_ scores: UnsafePointer<Float>, experts: Int, k: Int, into chosen: UnsafeMutablePointer<Int32>) {
        for j in 0..<k {
            var best = -1
            for e in 0..<experts where !(0..<j).contains(where: { chosen[$0] == Int32(e) }) {
                if best < 0 || scores[e] > scores[best] { best = e }
            }
            chosen[j] = Int32(best)
        }
    }

    /// The experts a token at `position` in its sequence goes to under forced balance
    /// (``RouterConfiguration/forcesLoadBalance``): assignment `position · k + j` goes to expert `(position · k + j) mod
    /// experts`, `k ≤ experts` distinct experts, so a sequence of `length` tokens gives every expert exactly
    /// `length · k / experts` assignments when `experts` divides `length · k` (else counts differ by at most one).
    /// torchtitan's `TokenChoiceTopKRouter._debug_force_load_balance_routing` (`torchtitan/models/moe/moe.py`, the
    /// `debug.moe_force_load_balance` option, also used by pytorch/ao's
    /// `benchmarks/prototype/moe_training/bench_moe_layer.py`) numbers a rank's own tokens `0 ..< N` instead; numbering by
    /// the position in the sequence makes the choice independent of how dp, sp and cp split the micro-batch, so every
    /// layout routes every token alike.
    public static func forcedExperts(position: Int, k: Int, experts: Int, into chosen: UnsafeMutablePointer<Int32>) {
        for j in 0..<k { chosen[j] = Int32((position * k + j) % experts) }
    }

    /// Drops, per sequence of `length` tokens and per expert, the assignments beyond `capacity`, lowest score
    /// first (ties: the later token); sets their expert to `-1` and their weight to 0. `score(t, j)` is the
    /// pre-normalization score of token `t`'s `j`-th choice. Slots already at `-1` count for no expert.
    public static func dropBeyondCapacity(_ routing: inout Routing, length: Int, capacity: Int, experts: Int,
                                          score: (Int, Int) -> Float) {
        guard capacity < routing.tokens * routing.topK else { return }
        let k = routing.topK
        for start in stride(from: 0, to: routing.tokens, by: length) {
            var assignments = [[(token: Int, slot: Int)]](repeating: [], count: experts)
            for t in start..<min(start + length, routing.tokens) {
                for j in 0..<k where routing.experts[t * k + j] >= 0 { assignments[Int(routing.experts[t * k + j])].append((t, j)) }
            }
            for list in assignments where list.count > capacity {
                let ranked = list.sorted { a, b in
                    let sa = score(a.token, a.slot), sb = score(b.token, b.slot)
                    return sa != sb ? sa > sb : a.token < b.token
                }
                for (t, j) in ranked[capacity...] {
                    routing.experts[t * k + j] = -1
                    routing.weights[t * k + j] = 0
                }
            }
        }
    }

    /// The gradient of the chosen scores from the gradient of the combine weights of one token:
    /// `w_j = s_j / Σ s` when normalizing (`∂L/∂s_i = (g_i − Σ_j g_j w_j) / Σ s`), else `w_j = s_j`.
    /// Dropped assignments have `g = 0` but stay in the sum they were normalized by.
    /// - Parameters:
    ///   - weightGradient: `[k]` `∂L/∂w` (ignored where `kept[j]` is false).
    ///   - chosenScores: `[k]` the scores `s` of the selected experts.
    ///   - scoreGradient: `[k]` written.
    public static func chosenScoreGradient(_ weightGradient: UnsafePointer<Float>, kept: (Int) -> Bool, chosenScores: UnsafePointer<Float>,
                                           k: Int, normalizes: Bool, into scoreGradient: UnsafeMutablePointer<Float>) {
        for j in 0..<k { scoreGradient[j] = kept(j) ? weightGradient[j] : 0 }
        guard normalizes else { return }
        var sum: Float = 0, dot: Float = 0
        for j in 0..<k { sum += chosenScores[j] }
        for j in 0..<k { dot += scoreGradient[j] * chosenScores[j] / sum }
        for j in 0..<k { scoreGradient[j] = (scoreGradient[j] - dot) / sum }
    }

    /// `dz = p ⊙ (dp − ⟨dp, p⟩)`: the softmax backward of one row, accumulated into `logitGradient`.
    public static func softmaxBackward(_ probabilityGradient: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, experts: Int,
                                       accumulatingInto logitGradient: UnsafeMutablePointer<Float>) {
        var dot: Float = 0
        for e in 0..<experts { dot += probabilityGradient[e] * probabilities[e] }
        for e in 0..<experts { logitGradient[e] += probabilities[e] * (probabilityGradient[e] - dot) }
    }
}
