import TesseraTensor

/// A GGUF file (llama.cpp's checkpoint format, versions 2 and 3), memory-mapped and validated.
///
/// Layout (ggml/docs/gguf.md): magic `GGUF`, version u32, tensor count u64, metadata count u64, the metadata
/// key-value pairs, the tensor infos (name, dimension count, `ne[]`, ggml type, offset), padding to
/// `general.alignment` (default 32), then the tensor data, each tensor at its offset from the data start.
///
/// Shapes: GGUF lists dimensions fastest first (`ne[0]` is the contiguous one); ``TensorInfo/shape`` reverses them
/// into row-major order, so a llama.cpp `[in, out]` weight reads as `[out, in]` like its PyTorch original.
/// Names stay llama.cpp's (`blk.0.attn_q.weight`); Q and K projection rows are stored permuted for llama.cpp's
/// rotary layout (see ``RotaryPermutation``).
///
/// Opening validates every field before use: counts against the bytes left, value types, strings as UTF-8,
/// dimension counts (at most 4) and sizes (no overflow), known tensor types, rows of whole blocks, offsets
/// aligned, inside the file and not overlapping, and no duplicate names or keys.
public final class GGUFFile: TensorSource {
    public let path: String
    public let version: UInt32
    /// `general.alignment`, or 32.
    public let alignment: Int
    public let metadata: GGUFMetadata
    /// Byte offset of the data section.
    public let dataOffset: Int
    private let table: TensorTable

    /// Opens and validates `path`.
    /// - Throws: ``FormatError/invalidCheckpoint(path:tensor:reason:)`` naming the field and the problem;
    ///   ``FormatError/unsupported(path:tensor:reason:)`` for GGUF version 1 or a big-endian file;
    ///   ``FormatError/io(path:operation:message:)`` when the file cannot be read.
    public init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        var cursor = GGUFCursor(file: file)
        let magic = try cursor.read(UInt32.self)
        guard magic == 0x4655_4747 else {
            throw cursor.invalid("the magic is not 'GGUF'; this is not a GGUF file")
        }
        version = try cursor.read(UInt32.self)
        guard version == 2 || version == 3 else {
            let reason = (1...3).contains(version.byteSwapped)
                ? "big-endian GGUF files are not supported; convert the file on a little-endian machine"
                : "GGUF version \(version) is not supported (Tessera reads versions 2 and 3)"
            throw FormatError.unsupported(path: path, tensor: nil, reason: reason)
        }
        // A tensor info takes at least 24 bytes and a metadata pair at least 12 (8-byte key length + type).
        let tensorCount = try cursor.readCount("tensor count", atMost: cursor.remaining / 24)
        let metadataCount = try cursor.readCount("metadata count", atMost: (cursor.remaining - 8) / 12)

        var metadata = GGUFMetadata()
        for index in 0..<metadataCount {
            cursor.context = "metadata pair \(index)"
            let key = try cursor.readString()
            cursor.context = "metadata key '\(key)'"
            let value = try cursor.readValue(try cursor.readValueType())
            guard metadata[key] == nil else { throw cursor.invalid("the key appears twice") }
            metadata[key] = value
        }
        cursor.context = "metadata key 'general.alignment'"
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard case let .uint32(a) = value, a > 0, a & (a - 1) == 0 else {
                throw cursor.invalid("the alignment must be a power of two stored as uint32, not \(value)")
            }
            alignment = Int(a)
        }
        self.alignment = alignment
        self.metadata = metadata

        var entries: [(name: String, shape: [Int], type: GGMLType, offset: Int, size: Int)] = []
        var seen = Set<String>()
        for index in 0..<tensorCount {
            cursor.context = "tensor info \(index)"
            cursor.tensor = nil
            let name = try cursor.readString()
            cursor.tensor = name
            cursor.context = "tensor info"
            guard seen.insert(name).inserted else { throw cursor.invalid("the name appears twice") }
            let entry = try Self.readTensorInfo(&cursor, alignment: alignment)
            entries.append((name, entry.shape, entry.type, entry.offset, entry.size))
        }
        cursor.tensor = nil
        cursor.context = "the tensor data"
        cursor.align(to: alignment)
        dataOffset = cursor.position
        let dataSize = file.count - min(file.count, dataOffset)

        var previous: (name: String, end: Int)? = nil
        for entry in entries.sorted(by: { ($0.offset, $0.size) < ($1.offset, $1.size) }) {
            func invalid(_ reason: String) -> FormatError {
                .invalidCheckpoint(path: path, tensor: entry.name, reason: reason)
            }
            guard entry.offset <= dataSize, entry.size <= dataSize - entry.offset else {
                throw invalid("data [\(entry.offset), \(entry.offset + entry.size)) lies past the end of the data section (\(dataSize) bytes); the file is truncated")
            }
            if let previous, entry.offset < previous.end {
                throw invalid("data at offset \(entry.offset) overlaps tensor '\(previous.name)', which ends at \(previous.end)")
            }
            previous = (entry.name, entry.offset + entry.size)
        }
        let dataStart = dataOffset
        table = TensorTable(path: path, entries.map { entry in
            let start = dataStart + entry.offset
            let info = TensorInfo(name: entry.name, shape: entry.shape, storageType: entry.type.name,
                                  dtype: entry.type.format.dtype, path: path, byteRange: start..<(start + entry.size))
            return StoredTensor(file: file, info: info, format: entry.type.format)
        })
    }

    /// `general.architecture` ("llama", "gpt2", …).
    public var architecture: String? { metadata["general.architecture"]?.string }

    public var tensorNames: [String] { table.names }

    public func info(named name: String) -> TensorInfo? { table.info(name) }

    public func tensor(named name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        try table.read(name, range: range, alongDimension: dimension)
    }

    public func storedTensor(named name: String) throws -> QuantizedTensor {
        try table.storage(name)
    }

    /// The weight matrix `name` (shape `[rows, columns]` as ``info(named:)`` reports it) in its stored type, pointing
    /// into the memory-mapped file: no copy is made, and the file stays mapped while the matrix lives.
    /// - Throws: ``FormatError/missingTensor(path:tensor:)``; ``FormatError/unsupported(path:tensor:reason:)`` when
    ///   the tensor is not two-dimensional or its type has no kernel (the message lists the types that have one).
    public func matrix(named name: String) throws -> QuantizedMatrix {
        try table.matrix(name)
    }

    /// Releases the resident pages of tensor `name`'s data in this process (see ``matrix(named:)``): for a tensor
    /// whose bytes were copied into a matrix of their own, so memory holds them once. Reading the tensor again
    /// stays valid (the pages come back from the file). Unknown names are ignored.
    public func releasePages(ofTensorNamed name: String) {
        table.release(name)
    }

    /// ggml's limit on dimensions (`GGML_MAX_DIMS`).
    static let maximumDimensions = 4

    private static func readTensorInfo(_ cursor: inout GGUFCursor, alignment: Int) throws
        -> (shape: [Int], type: GGMLType, offset: Int, size: Int)
    {
        let dimensionCount = try cursor.read(UInt32.self)
        guard dimensionCount <= maximumDimensions else {
            throw cursor.invalid("\(dimensionCount) dimensions; ggml allows at most \(maximumDimensions)")
        }
        var ne: [Int] = []
        var count = 1
        for _ in 0..<dimensionCount {
            let d = try cursor.read(UInt64.self)
            guard d <= UInt64(Int.max) else { throw cursor.invalid("dimension \(d) is absurd") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow else { throw cursor.invalid("dimensions \(ne + [Int(d)]) overflow the element count") }
            ne.append(Int(d))
            count = product
        }
        let code = try cursor.read(UInt32.self)
        guard let type = GGMLType.known[code] else {
            throw cursor.invalid("unknown tensor type \(code)")
        }
        let rowLength = ne.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw cursor.invalid("rows of \(rowLength) elements are not whole \(type.name) blocks of \(type.blockSize)")
        }
        guard let size = type.format.byteCount(forElements: count) else {
            throw cursor.invalid("dimensions \(ne) of \(type.name) overflow the byte count")
        }
        let offset = try cursor.read(UInt64.self)
        guard offset % UInt64(alignment) == 0 else {
            throw cursor.invalid("data offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        guard offset <= UInt64(cursor.file.count) else {
            throw cursor.invalid("data offset \(offset) lies past the end of the file (\(cursor.file.count) bytes)")
        }
        return (ne.reversed(), type, Int(offset), size)
    }
}
