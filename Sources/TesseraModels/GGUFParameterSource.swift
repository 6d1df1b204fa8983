import TesseraFormats
import TesseraTensor

/// A GGUF file seen through Hugging Face eyes: its tensors under their Hugging Face names and in their
/// Hugging Face layouts (transposes and the rotary row permutation undone, see ``GGUFTensorLayout``), so
/// model loading and conversion read GGUF files exactly as they read safetensors.
///
/// Ranged reads stay ranged: a rank reading its slice of a transposed weight reads the matching rows or
/// columns of the stored tensor, and a slice of a rotary-permuted weight reads its whole heads. Where a
/// column range of a block-quantized tensor does not fall on whole blocks (a tiny model split over tp),
/// the whole tensor is read and sliced.
public final class GGUFParameterSource: TensorSource {
    public let file: GGUFFile
    public let config: TransformerConfig
    public var path: String { file.path }
    /// The Hugging Face names of the model's parameters that the file holds, in model order.
    public let tensorNames: [String]
    let layouts: [String: GGUFTensorLayout]
    /// The shards ``storedMatrix(for:)`` has copied into the interleaved layout.
    let interleavedShards = InterleavedShards()

    /// - Parameter config: the architecture whose names and layouts apply (usually ``TransformerConfig/init(gguf:)``).
    public init(file: GGUFFile, config: TransformerConfig) {
        self.file = file
        self.config = config
        var names: [String] = [], layouts: [String: GGUFTensorLayout] = [:]
        var specNames = config.parameterSpecs(context: .single).map(\.name)
        // An untied head read from a file that holds one (tied configurations do not list it).
        if !specNames.contains("lm_head.weight") { specNames.append("lm_head.weight") }
        for name in specNames {
            let layout = config.ggufLayout(of: name)
            guard file.contains(layout.name) else { continue }
            names.append(name)
            layouts[name] = layout
        }
        tensorNames = names
        self.layouts = layouts
    }

    public func info(named name: String) -> TensorInfo? {
        guard let layout = layouts[name], let stored = file.info(named: layout.name) else { return nil }
        let shape = switch layout.transform {
        case .transposed: Array(stored.shape.reversed())
        case .stackedExpert: Array(stored.shape.dropFirst())
        default: stored.shape
        }
        return stored.presented(as: name, shape: shape)
    }

    public func tensor(named name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        guard let layout = layouts[name], let stored = file.info(named: layout.name) else {
            throw FormatError.missingTensor(path: path, tensor: name)
        }
        switch layout.transform {
        case .none:
            return try read(stored, range: range, alongDimension: dimension)
        case let .stackedExpert(index, experts):
            guard stored.shape.count == 3, stored.shape[0] == experts, (0...1).contains(dimension) else {
                throw FormatError.invalidCheckpoint(path: path, tensor: stored.name, reason: "shape \(stored.shape) is not [\(experts) experts, rows, columns]")
            }
            let matrix = try read(stored, range: index..<index + 1, alongDimension: 0)
            return try Tensor(shape: Array(stored.shape.dropFirst()), scalars: matrix.scalars).slice(range, alongDimension: dimension)
        case .transposed:
            guard stored.shape.count == 2, (0...1).contains(dimension) else {
                throw FormatError.invalidSlice(path: path, tensor: name, reason: "a transposed GGUF weight must be a matrix; \(stored.name) has shape \(stored.shape), dimension \(dimension)")
            }
            return try read(stored, range: range, alongDimension: 1 - dimension).transposedMatrix()
        case let .rotaryPermuted(heads):
            let rows = stored.shape.first ?? 0
            guard heads > 0, rows % heads == 0 else {
                throw FormatError.invalidCheckpoint(path: path, tensor: stored.name, reason: "\(rows) rows do not split into \(heads) heads")
            }
            let headDim = rows / heads
            guard dimension == 0 else {
                return try RotaryPermutation.unpermute(read(stored, range: range, alongDimension: dimension), heads: heads)
            }
            // The permutation stays inside each head: read the whole heads the range touches.
            let first = range.lowerBound / headDim * headDim, end = (range.upperBound + headDim - 1) / headDim * headDim
            let whole = try RotaryPermutation.unpermute(read(stored, range: first..<end, alongDimension: 0), heads: (end - first) / headDim)
            return try whole.slice(range.lowerBound - first..<range.upperBound - first, alongDimension: 0)
        }
    }

    public func storedTensor(named name: String) throws -> QuantizedTensor {
        guard let layout = layouts[name] else { throw FormatError.missingTensor(path: path, tensor: name) }
        guard layout.transform == .none else {
            throw FormatError.unsupported(path: path, tensor: layout.name, reason: "the stored layout differs from Hugging Face's (\(layout.transform)); read it as Float32")
        }
        return try file.storedTensor(named: layout.name)
    }

    /// A ranged read of a stored tensor; a range that cuts through quantization blocks reads the whole tensor.
    private func read(_ stored: TensorInfo, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        let blockSize = stored.dtype?.blockSize ?? 1
        let inner = stored.shape.dropFirst(dimension + 1).reduce(1, *)
        if blockSize == 1 || ((range.lowerBound * inner) % blockSize == 0 && (range.count * inner) % blockSize == 0) {
            return try file.tensor(named: stored.name, range: range, alongDimension: dimension)
        }
        return try file.tensor(named: stored.name).slice(range, alongDimension: dimension)
    }
}

extension Tensor {
    /// Elements `range` of `dimension` (all of the others).
    func slice(_ range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        let outer = shape[..<dimension].reduce(1, *), inner = shape[(dimension + 1)...].reduce(1, *), extent = shape[dimension]
        var sliced = shape
        sliced[dimension] = range.count
        var values = [Float]()
        values.reserveCapacity(outer * range.count * inner)
        withUnsafeBufferPointer { all in
            for o in 0..<outer {
                let start = (o * extent + range.lowerBound) * inner
                values.append(contentsOf: all[start..<start + range.count * inner])
            }
        }
        return try Tensor(shape: sliced, scalars: values)
    }

    /// The transpose of a matrix `[rows, columns]` → `[columns, rows]`.
    func transposedMatrix() throws -> Tensor {
        let rows = shape[0], columns = shape[1]
        var values = [Float](repeating: 0, count: count)
        withUnsafeBufferPointer { source in
            for r in 0..<rows {
                for c in 0..<columns { values[c * rows + r] = source[r * columns + c] }
            }
        }
        return try Tensor(shape: [columns, rows], scalars: values)
    }
}
