import TesseraNN

/// Completing the gradients of parameters that every tensor-parallel rank holds whole but sees only part
/// of the work for (``GradientReduction/sumOverTensorParallel``).
public enum TensorParallelGradients {
    /// Sums the gradients of those of `parameters` marked ``GradientReduction/sumOverTensorParallel`` over
    /// tp, in one all-reduce through `scratch`. Every rank of the group must call it with the same
    /// parameters; nothing happens on one rank or when none is marked.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public static func sumPartial(_ parameters: some Collection<Parameter>, over context: LayerContext, scratch: FloatBuffer) throws {
        guard context.tp.size > 1 else { return }
        let partial = parameters.filter { $0.spec.gradientReduction == .sumOverTensorParallel }
        guard !partial.isEmpty else { return }
        scratch.reserve(partial.reduce(0) { $0 + $1.count })
        var offset = 0
        for p in partial {
            (scratch.pointer + offset).update(from: p.gradient.baseAddress!, count: p.count)
            offset += p.count
        }
        try context.tp.allReduce(scratch.mutableElements, operation: .sum)
        offset = 0
        for p in partial {
            p.gradient.baseAddress!.update(from: scratch.pointer + offset, count: p.count)
            offset += p.count
        }
    }
}
