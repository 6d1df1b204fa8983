import TesseraNN

/// Split experts under sequence parallelism: every tp rank holds a share of every expert's features, so each needs
/// every row of the tp group, while sequence parallelism leaves it only its own `tokens / tp`.
extension ExpertLayer {
    /// The tp group's rows of `x` (`[tokens, hidden]` on each rank → `[tp · tokens, hidden]` in `buffer`, rank order)
    /// and their routings, concatenated the same way.
    /// - Throws: ``CollectiveError`` when a peer fails; ``ExpertError`` for a gathered routing that does not fit.
    func gatheredOverTensorParallel(_ x: UnsafePointer<Float>, tokens: Int, routing: ExpertRouting,
                                    into buffer: FloatBuffer) throws -> (UnsafePointer<Float>, Int, ExpertRouting) {
        let rows = try context.mappings.gatherFromSequenceRegion.forward(UnsafeMutablePointer(mutating: x), rows: tokens, columns: hidden,
                                                                         scratch: buffer, in: context)
        // Expert ids travel as floats: exact below 2^24, far above any expert count.
        let ids = try routing.experts.map(Float.init).withUnsafeBufferPointer { try context.tp.allGather($0) }
        let weights = try routing.weights.withUnsafeBufferPointer { try context.tp.allGather($0) }
        let gathered = try ExpertRouting(topK: routing.topK, experts: ids.map { Int32($0) }, weights: weights)
        return (UnsafePointer(rows), tokens * context.tp.size, gathered)
    }

    /// This rank's block of `values` (`[tokens, columns]` over the tp group's rows, rank order): `[tokens / tp, columns]`.
    func ownRows(of values: [Float], tokens: Int, columns: Int) -> [Float] {
        let share = tokens / context.tp.size * columns, first = context.tp.rank * share
        return Array(values[first..<first + share])
    }
}
