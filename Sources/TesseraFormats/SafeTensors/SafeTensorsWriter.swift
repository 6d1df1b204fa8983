import TesseraTensor
import TesseraFiles

/// Collects named tensors and writes them as one `.safetensors` file or as a sharded Hugging Face checkpoint.
///
/// Files are written atomically (temporary file, `fsync`, rename): a reader sees the old file or the whole new
/// one. Tensors are stored in the order they were added; the header is padded with spaces so the data starts
/// on an 8-byte boundary, as the reference writer does.
///
/// ```swift
/// var writer = SafeTensorsWriter()
/// try writer.add(embedding, named: "model.embed_tokens.weight")
/// try writer.write(toDirectory: "out", maxShardBytes: 2 << 30)
/// ```
public struct SafeTensorsWriter: Sendable {
    /// Written as `"__metadata__"`. transformers expects `"format": "pt"`, the default.
    public var metadata: [String: String]
    private var entries: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)] = []
    private var names = Set<String>()

    public init(metadata: [String: String] = ["format": "pt"]) {
        self.metadata = metadata
    }

    /// Names added so far, in order.
    public var tensorNames: [String] { entries.map(\.name) }

    /// Adds `tensor` to be stored as `dtype` (F32, F16 or BF16; rounding to nearest even).
    /// - Throws: ``FormatError/unsupported(path:tensor:reason:)`` for another dtype or a name added twice
    ///   (path `"<writer>"`: nothing has been written yet).
    public mutating func add(_ tensor: Tensor, named name: String, as dtype: SafeTensorsDType = .f32) throws {
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw FormatError.unsupported(path: "<writer>", tensor: name, reason: "the writer stores F32, F16 or BF16, not \(dtype.rawValue)")
        }
        guard names.insert(name).inserted else {
            throw FormatError.unsupported(path: "<writer>", tensor: name, reason: "a tensor of this name was already added")
        }
        entries.append((name, tensor, dtype))
    }

    /// Writes one file at `path`.
    public func write(to path: String) throws {
        try Self.writeFile(entries[...], metadata: metadata, to: path)
    }

    /// Writes a Hugging Face checkpoint into `directory` (created if needed): `model.safetensors` when everything
    /// fits in `maxShardBytes` of tensor data, otherwise `model-00001-of-0000N.safetensors`, … plus
    /// `model.safetensors.index.json` (written last) mapping each tensor to its shard. A tensor larger than
    /// `maxShardBytes` gets a shard of its own.
    /// - Returns: the file names written, shards first.
    @discardableResult
    public func write(toDirectory directory: String, maxShardBytes: Int = 5_000_000_000) throws -> [String] {
        try FileSystem.createDirectory(directory)
        var shards: [Range<Int>] = []
        var start = 0, bytes = 0
        for (i, entry) in entries.enumerated() {
            let size = entry.tensor.count * entry.dtype.byteSize
            if i > start, bytes + size > maxShardBytes {
                shards.append(start..<i)
                start = i
                bytes = 0
            }
            bytes += size
        }
        shards.append(start..<entries.count)
        if shards.count == 1 {
            try Self.writeFile(entries[...], metadata: metadata, to: FileSystem.join(directory, "model.safetensors"))
            return ["model.safetensors"]
        }
        var files: [String] = []
        var weightMap: [(String, String)] = []
        for (i, shard) in shards.enumerated() {
            let name = Self.shardName(i + 1, of: shards.count)
            try Self.writeFile(entries[shard], metadata: metadata, to: FileSystem.join(directory, name))
            files.append(name)
            weightMap += entries[shard].map { ($0.name, name) }
        }
        let totalSize = entries.reduce(0) { $0 + $1.tensor.count * $1.dtype.byteSize }
        let index = JSONValue.object(JSONObject([
            .init(key: "metadata", value: .object(JSONObject(["total_size": .integer(Int64(totalSize))]))),
            .init(key: "weight_map", value: .object(JSONObject(
                weightMap.sorted { $0.0 < $1.0 }.map { .init(key: $0.0, value: .string($0.1)) }))),
        ]))
        try AtomicFile.write(to: FileSystem.join(directory, SafeTensorsCheckpoint.indexFileName)) {
            try $0.write(Array(index.serialized.utf8))
        }
        return files + [SafeTensorsCheckpoint.indexFileName]
    }

    /// `model-0000i-of-0000n.safetensors`, transformers' shard naming.
    static func shardName(_ index: Int, of count: Int) -> String {
        func padded(_ n: Int) -> String {
            let digits = String(n)
            return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        }
        return "model-\(padded(index))-of-\(padded(count)).safetensors"
    }

    /// The start of a file holding tensors of the given names, shapes and dtypes in this order: the 8-byte length
    /// and the JSON header (padded with spaces to a multiple of 8), and where each tensor's data begins in the file.
    /// Writing each tensor's bytes after it, in order, completes the file.
    public static func layout(of tensors: [(name: String, shape: [Int], dtype: SafeTensorsDType)],
                              metadata: [String: String] = ["format": "pt"]) -> (header: [UInt8], dataOffsets: [Int]) {
        var members: [JSONObject.Member] = []
        if !metadata.isEmpty {
            let sorted = metadata.sorted { $0.key < $1.key }.map { JSONObject.Member(key: $0.key, value: .string($0.value)) }
            members.append(.init(key: "__metadata__", value: .object(JSONObject(sorted))))
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            let size = tensor.shape.reduce(1, *) * tensor.dtype.byteSize
            members.append(.init(key: tensor.name, value: .object(JSONObject([
                "dtype": .string(tensor.dtype.rawValue),
                "shape": .array(tensor.shape.map { .integer(Int64($0)) }),
                "data_offsets": .array([.integer(Int64(offset)), .integer(Int64(offset + size))]),
            ]))))
            offsets.append(offset)
            offset += size
        }
        var json = Array(JSONValue.object(JSONObject(members)).serialized.utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        let header = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
        return (header, offsets.map { $0 + header.count })
    }

    private static func writeFile(
        _ entries: ArraySlice<(name: String, tensor: Tensor, dtype: SafeTensorsDType)>,
        metadata: [String: String], to path: String
    ) throws {
        let header = layout(of: entries.map { ($0.name, $0.tensor.shape, $0.dtype) }, metadata: metadata).header
        try AtomicFile.write(to: path) { sink in
            try sink.write(header)
            for entry in entries {
                try sink.write(entry.tensor, as: entry.dtype.elementFormat.dtype!)
            }
        }
    }
}
