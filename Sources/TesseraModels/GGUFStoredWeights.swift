import TesseraFormats
import TesseraNN
import TesseraTensor

/// The rows and columns of a stored GGUF matrix `[rows, columns]` that make one rank's shard, rows in the order
/// the shard holds them: a pure function of the parameter's sharding and the tensor's GGUF layout.
package struct StoredShard: Sendable, Hashable {
    /// Stored row of each local row.
    package var rows: [Int]
    /// The columns every local row takes.
    package var columns: Range<Int>

    /// The shard of `spec` in a stored matrix of `storedShape` (`[out, in]`), or `nil` when the split cannot be
    /// taken from the stored rows: a split along the stored columns that cuts through quantization blocks of
    /// `blockSize` elements, or one with blocks along the columns.
    /// - Parameters:
    ///   - transposed: the stored matrix is the transpose of the Hugging Face tensor (GPT-2's `Conv1D` weights).
    ///   - rotaryHeads: the rows are stored in llama.cpp's rotary order within each of this many heads
    ///     (``RotaryPermutation``): local rows are mapped back to it.
    package init?(spec: ParameterSpec, storedShape: [Int], transposed: Bool, rotaryHeads: Int?, blockSize: Int) {
        let sharding = spec.sharding, shape = spec.globalShape
        var rowList: [Range<Int>] = [0..<storedShape[0]]
        var columns = 0..<storedShape[1]
        if let d = sharding.dimension {
            let ranges = sharding.ranges(ofGlobal: shape).filter { !$0.isEmpty }
            if (transposed ? 1 - d : d) == 0 {
                rowList = ranges
            } else {
                guard ranges.count == 1, sharding.blocks == 1,
                      ranges[0].lowerBound % blockSize == 0, ranges[0].count % blockSize == 0 else { return nil }
                columns = ranges[0]
            }
        }
        var rows = rowList.flatMap { $0 }
        if let heads = rotaryHeads {
            let headDim = storedShape[0] / heads, half = headDim / 2
            // Hugging Face row `half · i + j` of a head is stored as row `2j + i` (see RotaryPermutation).
            rows = rows.map { row in
                let head = row / headDim, within = row % headDim
                return head * headDim + 2 * (within % half) + within / half
            }
        }
        self.rows = rows
        self.columns = columns
    }

    /// Whether the shard is one run of whole stored rows, which a matrix can borrow without a copy.
    func isContiguous(columnCount: Int) -> Bool {
        columns.count == columnCount && zip(rows, rows.dropFirst()).allSatisfy { $1 == $0 + 1 }
    }
}

extension GGUFParameterSource: StoredWeightSource {
    /// This rank's shard of `spec` in the file's stored type: borrowed from the mapped file when it is a run of
    /// whole stored rows, otherwise copied row by row (rotary-permuted query and key rows are put back in Hugging
    /// Face order, row-parallel shards take their columns); after a copy the tensor's mapped pages are released,
    /// so resident memory holds each weight once. `nil` (a Float32 parameter) when a row-parallel split cuts
    /// through quantization blocks: that tensor alone is dequantized.
    /// - Throws: ``ModelError/missingTensor(file:tensor:)`` or ``ModelError/shapeMismatch(file:tensor:expected:actual:)``;
    ///   ``FormatError/unsupported(path:tensor:reason:)`` naming a type without a kernel and listing those with one.
    public func storedMatrix(for spec: ParameterSpec) throws -> QuantizedMatrix? {
        let name = try Transformer.storedName(of: spec, in: self)
        guard let layout = layouts[name] else { throw ModelError.missingTensor(file: path, tensor: spec.name) }
        let matrix = try file.matrix(named: layout.name)
        var rotaryHeads: Int?
        if case let .rotaryPermuted(heads) = layout.transform { rotaryHeads = heads }
        guard let shard = StoredShard(spec: spec, storedShape: matrix.shape, transposed: layout.transform == .transposed,
                                      rotaryHeads: rotaryHeads, blockSize: matrix.dtype.blockSize) else { return nil }
        if shard.isContiguous(columnCount: matrix.columns), let first = shard.rows.first {
            return matrix.rows(first..<first + shard.rows.count)
        }
        let copy = try matrix.gathering(rows: shard.rows, columns: shard.columns)
        file.releasePages(ofTensorNamed: layout.name)
        return copy
    }
}

extension QuantizedMatrix {
    /// A matrix of its own holding `rows` (in that order), each cut to `columns`.
    /// - Precondition: `columns` falls on whole blocks of the type.
    package func gathering(rows list: [Int], columns range: Range<Int>) throws -> QuantizedMatrix {
        let start = try dtype.byteCount(forElements: range.lowerBound), width = try dtype.byteCount(forElements: range.count)
        var bytes = [UInt8](repeating: 0, count: list.count * width)
        withUnsafeBytes { source in
            bytes.withUnsafeMutableBytes { destination in
                for (local, row) in list.enumerated() {
                    let from = source.baseAddress! + row * rowBytes + start
                    (destination.baseAddress! + local * width).copyMemory(from: from, byteCount: width)
                }
            }
        }
        return try QuantizedMatrix(dtype: dtype, rows: list.count, columns: range.count, bytes: bytes)
    }
}
