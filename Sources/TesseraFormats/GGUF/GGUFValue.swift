/// The value types of GGUF metadata, with their on-disk type codes (gguf.md, "GGUF file structure").
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value, or `nil` for strings and arrays (variable).
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
}

/// One GGUF metadata value. Arrays keep their element type so an empty array round-trips through the writer.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(elementType: GGUFValueType, values: [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// Any integer type as `Int` (`nil` for other types or an unsigned value above `Int.max`).
    public var int: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// Either float type, or any integer type, as `Double`.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return int.map(Double.init)
        }
    }

    public var bool: Bool? { if case let .bool(v) = self { return v } else { return nil } }
    public var string: String? { if case let .string(v) = self { return v } else { return nil } }
    public var array: [GGUFValue]? { if case let .array(_, values) = self { return values } else { return nil } }
    /// An array of strings (`nil` when this is not one).
    public var strings: [String]? {
        guard case let .array(type, values) = self, type == .string else { return nil }
        return values.map { $0.string! }
    }
    /// An array of integers of any integer type (`nil` when this is not one).
    public var ints: [Int]? {
        guard let values = array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let v = value.int else { return nil }
            result.append(v)
        }
        return result
    }

    public var description: String {
        switch self {
        case let .string(s): return "\"\(s)\""
        case let .array(type, values):
            let preview = values.prefix(4).map(\.description).joined(separator: ", ")
            return "[\(type): \(preview)\(values.count > 4 ? ", … (\(values.count))" : "")]"
        case let .bool(b): return String(b)
        default: return double.map { "\($0)" } ?? "?"
        }
    }
}

/// GGUF metadata: key-value pairs in file order with keyed lookup.
public struct GGUFMetadata: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: GGUFValue] = [:]

    public init() {}

    public subscript(key: String) -> GGUFValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Pairs in file order.
    public var entries: [(key: String, value: GGUFValue)] { keys.map { ($0, values[$0]!) } }
    public var count: Int { keys.count }
}
