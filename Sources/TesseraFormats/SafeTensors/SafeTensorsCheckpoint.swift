import TesseraTensor
import TesseraFiles

/// A Hugging Face safetensors checkpoint: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`).
///
/// Every shard is opened and validated up front (see ``SafeTensorsFile``); the index must name only plain file
/// names in the same directory, every tensor it maps must be in the shard it names, and every tensor of every
/// shard must be listed exactly once. Reads go to the shard that holds the tensor.
public final class SafeTensorsCheckpoint: TensorSource {
    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    /// What was opened: the directory, the index file or the single file.
    public let path: String
    /// The shards in index order (one file for an unsharded checkpoint).
    public let files: [SafeTensorsFile]
    /// The index's `"metadata"` object (`total_size`, …); `nil` without an index.
    public let indexMetadata: JSONObject?
    public let tensorNames: [String]
    private let owner: [String: SafeTensorsFile]

    /// Opens a directory (with an index or a single `model.safetensors`), an index file, or one `.safetensors` file.
    /// - Throws: ``FormatError/io(path:operation:message:)`` when nothing loadable is there;
    ///   ``FormatError/invalidCheckpoint(path:tensor:reason:)`` for an inconsistent index or a damaged shard.
    public init(path: String) throws {
        self.path = path
        var indexPath: String? = nil
        var singlePath: String? = nil
        if FileSystem.isDirectory(path) {
            let index = FileSystem.join(path, Self.indexFileName)
            let single = FileSystem.join(path, Self.singleFileName)
            if FileSystem.isRegularFile(index) {
                indexPath = index
            } else if FileSystem.isRegularFile(single) {
                singlePath = single
            } else {
                throw FormatError.io(path: path, operation: "open checkpoint",
                                     message: "the directory holds neither \(Self.indexFileName) nor \(Self.singleFileName)")
            }
        } else if path.hasSuffix(".json") {
            indexPath = path
        } else {
            singlePath = path
        }
        if let singlePath {
            let file = try SafeTensorsFile(path: singlePath)
            files = [file]
            indexMetadata = nil
            tensorNames = file.tensorNames
            owner = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
            return
        }
        let index = indexPath!
        (files, indexMetadata, tensorNames, owner) = try Self.openShards(index: index)
    }

    public func info(named name: String) -> TensorInfo? { owner[name]?.info(named: name) }

    public func tensor(named name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        try file(holding: name).tensor(named: name, range: range, alongDimension: dimension)
    }

    public func storedTensor(named name: String) throws -> QuantizedTensor {
        try file(holding: name).storedTensor(named: name)
    }

    private func file(holding name: String) throws -> SafeTensorsFile {
        guard let file = owner[name] else { throw FormatError.missingTensor(path: path, tensor: name) }
        return file
    }

    private static func openShards(index: String) throws
        -> ([SafeTensorsFile], JSONObject?, [String], [String: SafeTensorsFile])
    {
        func invalid(_ reason: String, tensor: String? = nil) -> FormatError {
            .invalidCheckpoint(path: index, tensor: tensor, reason: reason)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(FileSystem.readAll(index))
        } catch let error as JSONError {
            throw invalid("not valid JSON (\(error))")
        }
        guard let weightMap = json["weight_map"]?.object else { throw invalid("no \"weight_map\" object") }
        let directory = FilePath.directory(of: index)
        var shardOrder: [String] = []
        var listed: [String: String] = [:]
        for member in weightMap.members {
            guard let shard = member.value.string else { throw invalid("the weight_map value is not a file name", tensor: member.key) }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw invalid("shard '\(shard)' is not a plain file name in the checkpoint directory", tensor: member.key)
            }
            if !shardOrder.contains(shard) { shardOrder.append(shard) }
            listed[member.key] = shard
        }
        var files: [SafeTensorsFile] = []
        var owner: [String: SafeTensorsFile] = [:]
        var names: [String] = []
        for shard in shardOrder {
            let file = try SafeTensorsFile(path: FileSystem.join(directory, shard))
            for name in file.tensorNames {
                guard listed[name] == shard else {
                    if let other = listed[name] {
                        throw invalid("shard \(shard) holds this tensor but the index maps it to \(other)", tensor: name)
                    }
                    throw invalid("shard \(shard) holds this tensor but the index does not list it", tensor: name)
                }
                owner[name] = file
                names.append(name)
            }
            files.append(file)
        }
        for (name, shard) in listed where owner[name] == nil {
            throw invalid("the index maps this tensor to \(shard), which does not hold it", tensor: name)
        }
        return (files, json["metadata"]?.object, names, owner)
    }
}
