import Foundation
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
    /// Face order, row-parallel shards take their columns). Where the AVX-512 VNNI kernels run, Q8_0, Q4_0 and
    /// Q4_1 shards are copied into the interleaved layout those kernels read (``QuantizedMatrix/interleaved(in:)``, in the source's ``WeightArena``),
    /// once per shard however many parameters share it (a tied embedding and head). After a copy the tensor's
    /// mapped pages are released, so resident memory holds each weight once. `nil` (a Float32 parameter) when a
    /// row-parallel split cuts through quantization blocks: that tensor alone is dequantized.
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
        let interleaves = QuantizedKernelPath.best == .avx512VNNI && QuantizedMatrix.interleaves(matrix.dtype)
        return try interleavedShards.value(for: InterleavedShards.Key(tensor: layout.name, shard: shard), reused: interleaves) {
            let contiguous = !shard.rows.isEmpty && shard.isContiguous(columnCount: matrix.columns)
            let rows = try contiguous ? matrix.rows(shard.rows[0]..<shard.rows[0] + shard.rows.count)
                                      : matrix.gathering(rows: shard.rows, columns: shard.columns)
            let result = interleaves ? rows.interleaved(in: interleavedShards.arena) : rows
            if interleaves || !contiguous { file.releasePages(ofTensorNamed: layout.name) }
            return result
        }
    }
}

/// The interleaved copies a ``GGUFParameterSource`` has made, by tensor and shard, so parameters that share a shard
/// (a tied embedding and head) share one copy. Safe to use from several threads.
final class InterleavedShards: @unchecked Sendable {
    struct Key: Hashable {
        var tensor: String
        var shard: StoredShard
    }

    private let lock = NSLock()
    private var matrices: [Key: QuantizedMatrix] = [:]
    /// Where the copies lie: large regions on huge pages where the system allows them.
    let arena = WeightArena()

    /// The matrix made for `key` before when `reused`, else `make()`'s (remembered when `reused`).
    func value(for key: Key, reused: Bool, make: () throws -> QuantizedMatrix) rethrows -> QuantizedMatrix {
        guard reused else { return try make() }
        lock.lock()
        defer { lock.unlock() }
        if let matrix = matrices[key] { return matrix }
        let matrix = try make()
        matrices[key] = matrix
        return matrix
    }
}

extension QuantizedMatrix {
    /// A matrix of its own holding `rows` (in that order), each cut to `columns`.
    /// - Precondition: `columns` falls on whole blocks of the type.
    package func gathering(rows list: [Int], columns range: Range<Int>) throws -> QuantizedMatrix {
        precondition(layout == .rows, "gathering reads rows of the row-major layout")
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
