/// Errors thrown when a checkpoint or tokenizer file cannot be read, is damaged, or asks for something
/// Tessera does not decode.
///
/// Every message names the file, the tensor (where one is involved) and the problem, so the message alone
/// says what to fix. Damaged input never traps and never reads outside the file: every header field is
/// validated against the file's size before it is used.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is damaged or not in the format it claims (truncated, bad header, overlapping offsets, …).
    case invalidCheckpoint(path: String, tensor: String?, reason: String)
    /// The file is valid but uses something Tessera does not decode (a dtype, a GGUF version, a quantization).
    case unsupported(path: String, tensor: String?, reason: String)
    /// A tensor that was asked for is not in the checkpoint.
    case missingTensor(path: String, tensor: String)
    /// A read was asked for outside a tensor (a row range past the end, a slice on a missing dimension,
    /// a slice of a block-quantized tensor that does not fall on block boundaries).
    case invalidSlice(path: String, tensor: String, reason: String)
    /// The operating system refused an operation on a file (`operation` is the call, `message` its `strerror`).
    case io(path: String, operation: String, message: String)
    /// A tokenizer file (tokenizer.json, vocab/merges, GGUF tokenizer metadata) is damaged or inconsistent.
    case invalidTokenizer(path: String, reason: String)
    /// A tokenizer file is valid but uses a model, pre-tokenizer or template Tessera does not implement.
    case unsupportedTokenizer(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidCheckpoint(path, tensor, reason):
            return "invalid checkpoint \(path)\(Self.tensorClause(tensor)): \(reason)"
        case let .unsupported(path, tensor, reason):
            return "unsupported checkpoint content in \(path)\(Self.tensorClause(tensor)): \(reason)"
        case let .missingTensor(path, tensor):
            return "checkpoint \(path) has no tensor named '\(tensor)'"
        case let .invalidSlice(path, tensor, reason):
            return "invalid read of tensor '\(tensor)' in \(path): \(reason)"
        case let .io(path, operation, message):
            return "\(operation) failed for \(path): \(message)"
        case let .invalidTokenizer(path, reason):
            return "invalid tokenizer \(path): \(reason)"
        case let .unsupportedTokenizer(path, reason):
            return "unsupported tokenizer \(path): \(reason)"
        }
    }

    private static func tensorClause(_ tensor: String?) -> String {
        tensor.map { ", tensor '\($0)'" } ?? ""
    }
}
