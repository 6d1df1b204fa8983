/// Element-wise reduction of several Float32 buffers in a fixed order.
///
/// `out[i] = ((s₀[i] ⊕ s₁[i]) ⊕ s₂[i]) ⊕ …` with sources in the given order, so the result depends only
/// on the values and their order, never on timing or on how the range was cut into slices. The work goes
/// block by block through an L1-sized scratch buffer: each source is read once, the output written once,
/// and the output may alias any source.
package enum Reduction {
    /// Elements per block: 16 KiB of Float32, well inside L1.
    static let blockCount = 4096

    /// Reduces `count` elements of `sources` into `output` (`mean` divides the sum by `sources.count`).
    static func reduce(_ sources: [UnsafePointer<Float>], count: Int, operation: ReduceOperation,
                       into output: UnsafeMutablePointer<Float>) {
        precondition(!sources.isEmpty, "a reduction needs at least one source")
        guard count > 0 else { return }
        let divisor = Float(sources.count)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: blockCount) { scratch in
            let acc = scratch.baseAddress!
            var start = 0
            while start < count {
                let n = min(blockCount, count - start)
                acc.update(from: sources[0] + start, count: n)
                for source in sources.dropFirst() {
                    combine(acc, source + start, count: n, operation: operation)
                }
                (output + start).update(from: acc, count: n)
                if operation == .mean { divide(output + start, count: n, by: divisor) }
                start += n
            }
        }
    }

    /// `acc[i] = acc[i] ⊕ x[i]`.
    @inline(__always)
    static func combine(_ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int,
                        operation: ReduceOperation) {
        switch operation {
        case .sum, .mean:
            for i in 0..<count { acc[i] += x[i] }
        case .max:
            // A select, not Swift.max, so the loop vectorizes; a NaN from any source propagates.
            for i in 0..<count {
                let v = x[i]
                acc[i] = (v > acc[i] || v != v) ? v : acc[i]
            }
        }
    }

    /// Divides `count` elements by `divisor` in place (the mean after a backend's sum).
    package static func divide(_ buffer: UnsafeMutablePointer<Float>, count: Int, by divisor: Float) {
        for i in 0..<count { buffer[i] = buffer[i] / divisor }
    }
}
