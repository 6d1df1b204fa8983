#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import TesseraNN
import TesseraTensor

/// Softmax cross-entropy over a vocabulary split across the tensor-parallel group, without ever
/// gathering the full logits (Megatron's vocab-parallel cross-entropy): each rank reduces its columns
/// to a row maximum, a row sum of exponentials and the target's logit, and three all-reduces of one
/// float per row complete the softmax. Identical to the plain fused cross-entropy on one rank; rows are
/// split over the rank's backend.
public struct VocabParallelCrossEntropy: Sendable {
    /// First global vocabulary column this rank holds.
    public let vocabularyStart: Int
    /// Columns this rank holds (balanced shares: they may differ by one between ranks).
    public let vocabularyCount: Int
    public let context: LayerContext

    public init(vocabularyStart: Int, vocabularyCount: Int, context: LayerContext) {
        self.vocabularyStart = vocabularyStart
        self.vocabularyCount = vocabularyCount
        self.context = context
    }

    /// Writes `losses[r] = logsumexp(logits[r]) − logits[r, targets[r]]` for every row and, when
    /// `gradientScale` is given, overwrites each local logit with its gradient
    /// `gradientScale · (softmax − onehot(target))`.
    /// - Parameters:
    ///   - logits: `[tokens, ld]`, this rank's `vocabularyCount` columns first in each row.
    ///   - rowStatistics: scratch of `4 × tokens`.
    public func callAsFunction(
        logits: UnsafeMutablePointer<Float>, ld: Int, targets: UnsafePointer<Int32>, tokens: Int,
        losses: UnsafeMutablePointer<Float>, gradientScale: Float?, rowStatistics: FloatBuffer
    ) throws {
        rowStatistics.reserve(4 * tokens)
        let maxima = rowStatistics.pointer, sums = maxima + tokens, targetLogits = sums + tokens, factors = targetLogits + tokens
        let n = vocabularyCount, backend = context.backend
        backend.rowMaxima(logits, ld: ld, rows: tokens, columns: n, into: maxima)
        for r in 0..<tokens {
            let t = Int(targets[r]) - vocabularyStart
            targetLogits[r] = t >= 0 && t < n ? logits[r * ld + t] : 0
        }
        try context.tp.allReduce(UnsafeMutableBufferPointer(start: maxima, count: tokens), operation: .max)
        try context.tp.allReduce(UnsafeMutableBufferPointer(start: targetLogits, count: tokens), operation: .sum)
        backend.shiftedExponentialSums(logits, ld: ld, rows: tokens, columns: n, shifts: maxima, into: sums,
                                       storingExponentials: gradientScale != nil)
        try context.tp.allReduce(UnsafeMutableBufferPointer(start: sums, count: tokens), operation: .sum)
        for r in 0..<tokens { losses[r] = logf(sums[r]) + maxima[r] - targetLogits[r] }
        guard let scale = gradientScale else { return }
        for r in 0..<tokens { factors[r] = scale / sums[r] }
        backend.scaleRows(logits, ld: ld, rows: tokens, columns: n, by: factors)
        for r in 0..<tokens {
            let t = Int(targets[r]) - vocabularyStart
            if t >= 0 && t < n { logits[r * ld + t] -= scale }
        }
    }
}
