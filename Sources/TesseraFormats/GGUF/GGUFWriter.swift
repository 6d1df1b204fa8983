import TesseraTensor
import TesseraFiles

/// Builds a GGUF version 3 file: metadata in insertion order, then tensors, each aligned to ``alignment``.
///
/// Tensors are given in row-major shape (as ``GGUFFile`` reads them) and stored with `ne` reversed. The block
/// formats need rows (the last dimension) of whole 32-element blocks. The file is written atomically.
///
/// ```swift
/// var writer = GGUFWriter()
/// writer.metadata["general.architecture"] = .string("llama")
/// try writer.add(weight, named: "blk.0.attn_q.weight", as: .q8_0)
/// try writer.write(to: "model.gguf")
/// ```
public struct GGUFWriter: Sendable {
    public var metadata = GGUFMetadata()
    /// Data alignment in bytes (a power of two); written as `general.alignment` when not the default 32.
    public let alignment: Int
    private var entries: [(name: String, storage: Storage)] = []
    private var names = Set<String>()

    private enum Storage: Sendable {
        case encode(Tensor, DType)
        case stored(QuantizedTensor)

        var dtype: DType {
            switch self {
            case let .encode(_, dtype): return dtype
            case let .stored(q): return q.dtype
            }
        }

        var shape: [Int] {
            switch self {
            case let .encode(t, _): return t.shape
            case let .stored(q): return q.shape
            }
        }
    }

    /// - Precondition: `alignment` is a power of two.
    public init(alignment: Int = 32) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUF alignment must be a power of two")
        self.alignment = alignment
    }

    /// Adds `tensor`, to be encoded as `dtype` when written (ggml's reference rounding for the block formats).
    /// - Throws: ``FormatError/unsupported(path:tensor:reason:)`` for a duplicate name, more than 4 dimensions,
    ///   or rows that are not whole blocks of `dtype`.
    public mutating func add(_ tensor: Tensor, named name: String, as dtype: DType = .f32) throws {
        try check(name, shape: tensor.shape, dtype: dtype)
        entries.append((name, .encode(tensor, dtype)))
    }

    /// Adds already-encoded storage (e.g. a quantized tensor read from another GGUF file) unchanged.
    public mutating func add(_ stored: QuantizedTensor, named name: String) throws {
        try check(name, shape: stored.shape, dtype: stored.dtype)
        entries.append((name, .stored(stored)))
    }

    private mutating func check(_ name: String, shape: [Int], dtype: DType) throws {
        func refuse(_ reason: String) -> FormatError { .unsupported(path: "<writer>", tensor: name, reason: reason) }
        guard shape.count <= GGUFFile.maximumDimensions else { throw refuse("GGUF tensors have at most 4 dimensions, not \(shape.count)") }
        guard (shape.last ?? 1) % dtype.blockSize == 0 else {
            throw refuse("rows of \(shape.last ?? 1) elements are not whole \(dtype) blocks of \(dtype.blockSize)")
        }
        guard names.insert(name).inserted else { throw refuse("a tensor of this name was already added") }
    }

    /// Writes the file.
    /// - Throws: ``FileWriteError`` when it cannot be written (the old file, if any, stays).
    public func write(to path: String) throws {
        var metadata = self.metadata
        if alignment != 32 { metadata["general.alignment"] = .uint32(UInt32(alignment)) }
        var offsets: [Int] = []
        var offset = 0
        for entry in entries {
            offsets.append(offset)
            let count = entry.storage.shape.reduce(1, *)
            offset += try entry.storage.dtype.byteCount(forElements: count)
            offset += (alignment - offset % alignment) % alignment
        }
        try AtomicFile.write(to: path) { sink in
            try sink.write(Array("GGUF".utf8))
            try sink.write(littleEndian: UInt32(3))
            try sink.write(littleEndian: UInt64(entries.count))
            try sink.write(littleEndian: UInt64(metadata.count))
            for (key, value) in metadata.entries {
                try Self.write(string: key, to: &sink)
                try sink.write(littleEndian: value.type.rawValue)
                try Self.write(value, to: &sink)
            }
            for (entry, offset) in zip(entries, offsets) {
                try Self.write(string: entry.name, to: &sink)
                let shape = entry.storage.shape
                try sink.write(littleEndian: UInt32(shape.count))
                for d in shape.reversed() { try sink.write(littleEndian: UInt64(d)) }
                try sink.write(littleEndian: GGMLType.code(for: entry.storage.dtype))
                try sink.write(littleEndian: UInt64(offset))
            }
            try sink.pad(toMultipleOf: alignment)
            for entry in entries {
                switch entry.storage {
                case let .encode(tensor, dtype): try sink.write(tensor, as: dtype)
                case let .stored(q): try sink.write(q.bytes)
                }
                try sink.pad(toMultipleOf: alignment)
            }
        }
    }

    private static func write(string: String, to sink: inout FileSink) throws {
        try sink.write(littleEndian: UInt64(string.utf8.count))
        try sink.write(Array(string.utf8))
    }

    private static func write(_ value: GGUFValue, to sink: inout FileSink) throws {
        switch value {
        case let .uint8(v): try sink.write(littleEndian: v)
        case let .int8(v): try sink.write(littleEndian: v)
        case let .uint16(v): try sink.write(littleEndian: v)
        case let .int16(v): try sink.write(littleEndian: v)
        case let .uint32(v): try sink.write(littleEndian: v)
        case let .int32(v): try sink.write(littleEndian: v)
        case let .uint64(v): try sink.write(littleEndian: v)
        case let .int64(v): try sink.write(littleEndian: v)
        case let .float32(v): try sink.write(littleEndian: v.bitPattern)
        case let .float64(v): try sink.write(littleEndian: v.bitPattern)
        case let .bool(v): try sink.write(littleEndian: UInt8(v ? 1 : 0))
        case let .string(s): try write(string: s, to: &sink)
        case let .array(type, values):
            try sink.write(littleEndian: type.rawValue)
            try sink.write(littleEndian: UInt64(values.count))
            for v in values {
                precondition(v.type == type, "GGUF array of \(type) holds a \(v.type)")
                try write(v, to: &sink)
            }
        }
    }
}
