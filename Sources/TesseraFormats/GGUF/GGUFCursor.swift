/// A bounds-checked little-endian reader over a mapped GGUF file. Every read checks the remaining length
/// first and throws ``FormatError/invalidCheckpoint(path:tensor:reason:)`` naming what was being read.
struct GGUFCursor {
    let file: MappedFile
    private(set) var position = 0
    /// What is being read, for error messages ("metadata key 'general.name'", "tensor info 3").
    var context = "the header"
    var tensor: String? = nil

    init(file: MappedFile) { self.file = file }

    var remaining: Int { file.count - position }

    func invalid(_ reason: String) -> FormatError {
        .invalidCheckpoint(path: file.path, tensor: tensor, reason: "\(context): \(reason)")
    }

    mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else {
            throw invalid("needs \(count) bytes at offset \(position) but the file ends at \(file.count); it is truncated")
        }
        defer { position += count }
        return file.bytes(in: position..<(position + count))
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        T(littleEndian: try bytes(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }

    /// A count or length stored as u64, checked to fit `Int` and to be at most `limit`.
    mutating func readCount(_ what: String, atMost limit: Int) throws -> Int {
        let value = try read(UInt64.self)
        guard value <= UInt64(max(0, limit)) else {
            throw invalid("\(what) \(value) cannot fit in the \(remaining) bytes left in the file")
        }
        return Int(value)
    }

    mutating func readString() throws -> String {
        let length = try readCount("string length", atMost: remaining - 8)
        let raw = try bytes(length)
        guard let text = String(validating: raw, as: UTF8.self) else { throw invalid("a string is not valid UTF-8") }
        return text
    }

    mutating func readValue(_ type: GGUFValueType, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self))
        case .int8: return .int8(try read(Int8.self))
        case .uint16: return .uint16(try read(UInt16.self))
        case .int16: return .int16(try read(Int16.self))
        case .uint32: return .uint32(try read(UInt32.self))
        case .int32: return .int32(try read(Int32.self))
        case .uint64: return .uint64(try read(UInt64.self))
        case .int64: return .int64(try read(Int64.self))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self)))
        case .bool:
            let byte = try read(UInt8.self)
            guard byte <= 1 else { throw invalid("a bool holds \(byte), not 0 or 1") }
            return .bool(byte == 1)
        case .string: return .string(try readString())
        case .array:
            guard depth < 8 else { throw invalid("arrays nested deeper than 8 levels") }
            let elementType = try readValueType()
            // Each element takes at least its fixed size (strings and arrays at least their 8-byte count).
            let minimum = elementType.fixedSize ?? (elementType == .array ? 12 : 8)
            let count = try readCount("array length", atMost: max(0, remaining - 8) / minimum)
            var values: [GGUFValue] = []
            values.reserveCapacity(min(count, 1 << 16))
            for _ in 0..<count { values.append(try readValue(elementType, depth: depth + 1)) }
            return .array(elementType: elementType, values: values)
        }
    }

    mutating func readValueType() throws -> GGUFValueType {
        let code = try read(UInt32.self)
        guard let type = GGUFValueType(rawValue: code) else { throw invalid("unknown metadata value type \(code)") }
        return type
    }

    mutating func align(to alignment: Int) {
        position += (alignment - position % alignment) % alignment
    }
}
