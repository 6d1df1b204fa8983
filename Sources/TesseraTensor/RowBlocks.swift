/// Column sums over many rows (bias, norm-weight gradients) in fixed blocks of rows.
///
/// Each block of rows sums into its own partial row; the partials are then added in block order.
/// Block boundaries depend only on the row count, never on the pool, so every pool size gives the
/// same bits, and the two-level sum is more accurate than one running sum over all rows.
enum RowBlocks {
    /// At most this many blocks (and so partial rows of scratch) per call.
    static let maximumBlocks = 32
    /// At least this many rows per block.
    static let minimumRows = 16

    /// The row ranges of the blocks for `rows` rows.
    static func blocks(rows: Int) -> [Range<Int>] {
        let rowsPerBlock = max(minimumRows, (rows + maximumBlocks - 1) / maximumBlocks)
        return stride(from: 0, to: rows, by: rowsPerBlock).map { $0..<min(rows, $0 + rowsPerBlock) }
    }

    /// Calls `body(rows, partials)` for each block, where `partials[k]` is a zeroed `[columns]` row that
    /// stands for `accumulators[k]`; then adds each sum over blocks into its accumulator (`+=`).
    static func sumColumns(
        rows: Int, columns: Int, into accumulators: [UnsafeMutablePointer<Float>], pool: ComputePool,
        _ body: (Range<Int>, [UnsafeMutablePointer<Float>]) -> Void
    ) {
        guard rows > 0, columns > 0 else { return }
        let blocks = blocks(rows: rows)
        let outputs = accumulators.count
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blocks.count * outputs * columns)
        defer { scratch.deallocate() }
        scratch.initialize(repeating: 0, count: blocks.count * outputs * columns)
        func partials(_ block: Int) -> [UnsafeMutablePointer<Float>] {
            (0..<outputs).map { scratch + (block * outputs + $0) * columns }
        }
        let blocksPerPart = pool.ranges(
            count: blocks.count, alignment: 1,
            minimumPerPart: max(1, pool.minimumElementsPerThread / (blocks[0].count * columns)))
        pool.run(parts: blocksPerPart.count) { part in
            for block in blocksPerPart[part] { body(blocks[block], partials(block)) }
        }
        for (k, accumulator) in accumulators.enumerated() {
            pool.forEachRange(count: columns, minimumPerPart: max(16, pool.minimumElementsPerThread / blocks.count)) { range in
                let start = range.lowerBound
                let total = scratch + k * columns + start
                for block in 1..<blocks.count {
                    let partial = scratch + (block * outputs + k) * columns + start
                    VectorMath.map(total, partial, into: total, count: range.count, Sum())
                }
                VectorMath.map(accumulator + start, total, into: accumulator + start, count: range.count, Sum())
            }
        }
    }
}
