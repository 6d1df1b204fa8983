import TesseraTensor

/// One `.safetensors` file, memory-mapped and validated.
///
/// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length `N`, `N` bytes of
/// JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the
/// data that follows the header) plus an optional `"__metadata__"` object of strings, then the data.
///
/// Opening validates every field before any is used, with the rules of the reference implementation: the header
/// lies inside the file and is a JSON object without duplicate names; dtypes are known; shapes are non-negative
/// and `end - begin` equals elements × dtype size; and the tensors tile the data section exactly (sorted by
/// offset, each begins where the previous ends, the last ends at the end of the file), so no two overlap and no
/// read can leave the file. Reading never loads the whole file: tensor data is paged in on access.
public final class SafeTensorsFile: TensorSource {
    public let path: String
    /// The `"__metadata__"` strings (e.g. `{"format": "pt"}`).
    public let metadata: [String: String]
    private let table: TensorTable

    /// Headers above this size are refused before parsing (the reference implementation's limit).
    public static let maximumHeaderSize = 100_000_000

    /// Opens and validates `path`.
    /// - Throws: ``FormatError/io(path:operation:message:)`` when the file cannot be read,
    ///   ``FormatError/invalidCheckpoint(path:tensor:reason:)`` naming the tensor and the broken rule otherwise.
    public init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        func invalid(_ reason: String, tensor: String? = nil) -> FormatError {
            .invalidCheckpoint(path: path, tensor: tensor, reason: reason)
        }
        guard file.count >= 8 else {
            throw invalid("the file is \(file.count) bytes, shorter than the 8-byte header length; it is truncated or not safetensors")
        }
        let headerLength = file.bytes(in: 0..<8).loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(file.count - 8) else {
            throw invalid("the header length \(headerLength) runs past the end of the file (\(file.count) bytes); the file is truncated or not safetensors")
        }
        guard headerLength <= UInt64(Self.maximumHeaderSize) else {
            throw invalid("the header length \(headerLength) exceeds the \(Self.maximumHeaderSize)-byte limit")
        }
        let dataStart = 8 + Int(headerLength)
        let header: JSONValue
        do {
            header = try JSONValue.parse(file.bytes(in: 8..<dataStart))
        } catch let error as JSONError {
            if let name = error.duplicateKey { throw invalid("the header names this tensor twice", tensor: name) }
            throw invalid("the header is not valid JSON (\(error.reason) at header byte \(error.offset))")
        }
        guard let object = header.object else { throw invalid("the header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [(info: TensorInfo, format: ElementFormat, begin: Int)] = []
        let dataSize = file.count - dataStart
        for member in object.members {
            if member.key == "__metadata__" {
                metadata = try Self.parseMetadata(member.value, invalid: invalid)
                continue
            }
            let parsed = try Self.parseEntry(member.key, member.value, dataSize: dataSize, invalid: invalid)
            let info = TensorInfo(
                name: member.key, shape: parsed.shape, storageType: parsed.dtype.rawValue,
                dtype: parsed.dtype.elementFormat.dtype, path: path,
                byteRange: (dataStart + parsed.begin)..<(dataStart + parsed.end))
            entries.append((info, parsed.dtype.elementFormat, parsed.begin))
        }
        try Self.checkTiling(entries.map { ($0.info.name, $0.begin, $0.begin + $0.info.byteRange.count) },
                             dataSize: dataSize, invalid: invalid)
        entries.sort { ($0.begin, $0.info.byteRange.count) < ($1.begin, $1.info.byteRange.count) }
        self.metadata = metadata
        table = TensorTable(path: path, entries.map { StoredTensor(file: file, info: $0.info, format: $0.format) })
    }

    public var tensorNames: [String] { table.names }

    public func info(named name: String) -> TensorInfo? { table.info(name) }

    public func tensor(named name: String, range: Range<Int>, alongDimension dimension: Int) throws -> Tensor {
        try table.read(name, range: range, alongDimension: dimension)
    }

    public func storedTensor(named name: String) throws -> QuantizedTensor {
        try table.storage(name)
    }

    private static func parseMetadata(
        _ value: JSONValue, invalid: (String, String?) -> FormatError
    ) throws -> [String: String] {
        guard let object = value.object else { throw invalid("__metadata__ is not a JSON object", nil) }
        var metadata: [String: String] = [:]
        for member in object.members {
            guard let text = member.value.string else {
                throw invalid("__metadata__ value for '\(member.key)' is not a string", nil)
            }
            metadata[member.key] = text
        }
        return metadata
    }

    private static func parseEntry(
        _ name: String, _ value: JSONValue, dataSize: Int, invalid: (String, String?) -> FormatError
    ) throws -> (dtype: SafeTensorsDType, shape: [Int], begin: Int, end: Int) {
        guard let entry = value.object else { throw invalid("the header entry is not a JSON object", name) }
        guard let dtypeName = entry["dtype"]?.string else { throw invalid("the entry has no \"dtype\" string", name) }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
            throw invalid("unknown dtype '\(dtypeName)' (safetensors defines \(known))", name)
        }
        guard let dimensions = entry["shape"]?.array else { throw invalid("the entry has no \"shape\" array", name) }
        var shape: [Int] = []
        var count = 1
        for dimension in dimensions {
            guard let d = dimension.integer, d >= 0 else {
                throw invalid("shape \(JSONValue.array(dimensions).serialized) has a dimension that is not a non-negative integer", name)
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow else { throw invalid("shape \(JSONValue.array(dimensions).serialized) overflows", name) }
            shape.append(Int(d))
            count = product
        }
        guard let offsets = entry["data_offsets"]?.array, offsets.count == 2,
              let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, begin <= end
        else { throw invalid("\"data_offsets\" is not a pair [begin, end] of integers with 0 <= begin <= end", name) }
        guard end <= Int64(dataSize) else {
            throw invalid("data_offsets [\(begin), \(end)] end past the data section (\(dataSize) bytes); the file is truncated", name)
        }
        let expected = dtype.elementFormat.byteCount(forElements: count)
        guard let expected, Int64(expected) == end - begin else {
            throw invalid("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(expected.map(String.init) ?? "more than Int.max")", name)
        }
        return (dtype, shape, Int(begin), Int(end))
    }

    /// The tensors must tile `0..<dataSize`: sorted by offset, each begins where the previous ended.
    private static func checkTiling(
        _ spans: [(name: String, begin: Int, end: Int)], dataSize: Int, invalid: (String, String?) -> FormatError
    ) throws {
        var previous: (name: String, begin: Int, end: Int)? = nil
        for span in spans.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            let expectedBegin = previous?.end ?? 0
            if span.begin < expectedBegin, let previous {
                throw invalid("data [\(span.begin), \(span.end)) overlaps tensor '\(previous.name)' at [\(previous.begin), \(previous.end))", span.name)
            }
            if span.begin > expectedBegin {
                throw invalid("data begins at \(span.begin) but the previous tensor ends at \(expectedBegin): the data is not contiguous", span.name)
            }
            previous = span
        }
        let end = previous?.end ?? 0
        guard end == dataSize else {
            throw invalid("the tensors cover \(end) bytes but the data section holds \(dataSize): the file has trailing bytes or is damaged", nil)
        }
    }
}
