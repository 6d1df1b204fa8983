/// Errors thrown by the tensor layer when a caller passes shapes, counts or dtypes that do not fit.
///
/// Every case names what was expected and what arrived, so the message alone says what to fix.
public enum TensorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Two shapes that must agree do not (`operation` names the call).
    case shapeMismatch(operation: String, expected: [Int], actual: [Int])
    /// A buffer holds a different number of elements than its shape requires.
    case countMismatch(operation: String, expected: Int, actual: Int)
    /// A shape is invalid in itself (negative dimension, wrong rank, indivisible block size).
    case invalidShape(operation: String, shape: [Int], reason: String)
    /// Storage of one dtype was used where another was required.
    case dtypeMismatch(operation: String, expected: DType, actual: DType)
    /// An index (a token id, a position) lies outside its valid range.
    case indexOutOfRange(operation: String, index: Int, bound: Int)
    /// Two operands whose shapes must fit together do not (`reason` says which dimensions disagree).
    case incompatibleShapes(operation: String, first: [Int], second: [Int], reason: String)
    /// Something the call needs is not available here (an instruction set the CPU lacks).
    case unavailable(operation: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(operation, expected, actual):
            return "\(operation): shape mismatch, expected \(expected) but got \(actual)"
        case let .countMismatch(operation, expected, actual):
            return "\(operation): expected \(expected) elements but got \(actual)"
        case let .invalidShape(operation, shape, reason):
            return "\(operation): invalid shape \(shape): \(reason)"
        case let .dtypeMismatch(operation, expected, actual):
            return "\(operation): expected dtype \(expected) but got \(actual)"
        case let .indexOutOfRange(operation, index, bound):
            return "\(operation): index \(index) is out of range 0..<\(bound)"
        case let .incompatibleShapes(operation, first, second, reason):
            return "\(operation): shapes \(first) and \(second) do not fit: \(reason)"
        case let .unavailable(operation, reason):
            return "\(operation): \(reason)"
        }
    }
}
