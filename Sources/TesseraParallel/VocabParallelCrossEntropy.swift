#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import TesseraNN

/// Softmax cross-entropy over a vocabulary split across the tensor-parallel group, without ever
/// gathering the full logits (Megatron's vocab-parallel cross-entropy): each rank reduces its columns
/// to a row maximum, a row sum of exponentials and the target's logit, and three all-reduces of one
/// float per row complete the softmax. Identical to the plain fused cross-entropy on one rank.
public struct VocabParallelCrossEntropy: Sendable {
    /// First global vocabulary column this rank holds.
    public let vocabularyStart: Int
    /// Real (unpadded) columns this rank holds; padding columns are never part of the softmax.
    public let vocabularyCount: Int
    public let tp: TensorParallelism

    public init(vocabularyStart: Int, vocabularyCount: Int, tp: TensorParallelism) {
        self.vocabularyStart = vocabularyStart
        self.vocabularyCount = vocabularyCount
        self.tp = tp
    }

    /// Writes `losses[r] = logsumexp(logits[r]) − logits[r, targets[r]]` for every row and, when
    /// `gradientScale` is given, overwrites each local logit with its gradient
    /// `gradientScale · (softmax − onehot(target))`.
    /// - Parameters:
    ///   - logits: `[tokens, ld]`, this rank's `vocabularyCount` columns first in each row.
    ///   - rowStatistics: scratch of `3 × tokens`.
    public func callAsFunction(
        logits: UnsafeMutablePointer<Float>, ld: Int, targets: UnsafePointer<Int32>, tokens: Int,
        losses: UnsafeMutablePointer<Float>, gradientScale: Float?, rowStatistics: FloatBuffer
    ) throws {
        rowStatistics.reserve(3 * tokens)
        let maxima = rowStatistics.pointer, sums = maxima + tokens, targetLogits = sums + tokens
        let n = vocabularyCount
        for r in 0..<tokens {
            let row = logits + r * ld
            var m = -Float.infinity
            for c in 0..<n where row[c] > m { m = row[c] }
            maxima[r] = m
            let t = Int(targets[r]) - vocabularyStart
            targetLogits[r] = t >= 0 && t < n ? row[t] : 0
        }
        try tp.allReduce(UnsafeMutableBufferPointer(start: maxima, count: tokens), operation: .max)
        try tp.allReduce(UnsafeMutableBufferPointer(start: targetLogits, count: tokens), operation: .sum)
        for r in 0..<tokens {
            let row = logits + r * ld, m = maxima[r]
            var sum: Float = 0
            if gradientScale == nil {
                for c in 0..<n { sum += expf(row[c] - m) }
            } else {
                for c in 0..<n {
                    let e = expf(row[c] - m)
                    row[c] = e
                    sum += e
                }
            }
            sums[r] = sum
        }
        try tp.allReduce(UnsafeMutableBufferPointer(start: sums, count: tokens), operation: .sum)
        for r in 0..<tokens { losses[r] = logf(sums[r]) + maxima[r] - targetLogits[r] }
        guard let scale = gradientScale else { return }
        for r in 0..<tokens {
            let row = logits + r * ld, factor = scale / sums[r]
            for c in 0..<n { row[c] *= factor }
            let t = Int(targets[r]) - vocabularyStart
            if t >= 0 && t < n { row[t] -= scale }
        }
    }
}
