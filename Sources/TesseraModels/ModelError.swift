import TesseraParallel

/// Errors in model configurations, checkpoints and inputs. Every message names the value or file at
/// fault and the fix.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration field is invalid in itself.
    case invalidConfiguration(field: String, reason: String)
    /// tp exceeds the `count` query heads (or MLP features, or vocabulary entries), so a rank would hold none;
    /// every tp from 1 to `count` works.
    case tensorParallelTooLarge(what: String, count: Int, tp: Int)
    /// No preset has this name.
    case unknownPreset(name: String, available: [String])
    /// A checkpoint tensor's shape contradicts the configuration.
    case shapeMismatch(file: String, tensor: String, expected: [Int], actual: [Int])
    /// A tensor the configuration needs is not in the checkpoint.
    case missingTensor(file: String, tensor: String)
    /// A checkpoint or config file cannot be read or parsed.
    case invalidFile(path: String, reason: String)
    /// The output file exists and the write was not asked to replace it.
    case fileExists(path: String)
    /// A token id lies outside the vocabulary.
    case tokenOutOfRange(id: Int, position: Int, vocabularySize: Int)
    /// A batch does not have the shape the model needs.
    case invalidBatch(reason: String)

    public var description: String { message(replaceOption: "`replacing: true`") }

    /// The message, naming how to allow replacing an existing file as `replaceOption` (the CLI: `--force`).
    public func message(replaceOption: String) -> String {
        switch self {
        case let .fileExists(path):
            return "\(path): already exists; choose another output or pass \(replaceOption) to replace it"
        case let .invalidConfiguration(field, reason):
            return "invalid model configuration: \(field): \(reason)"
        case let .tensorParallelTooLarge(what, count, tp):
            return ParallelConfigError.tensorParallelMessage(what: what, count: count, tp: tp)
        case let .unknownPreset(name, available):
            return "unknown model preset '\(name)'; use one of \(available.joined(separator: ", ")) or a path to a config.json"
        case let .shapeMismatch(file, tensor, expected, actual):
            return "\(file): tensor \(tensor) has shape \(actual) but the configuration needs \(expected);"
                + " the config.json does not describe these weights (fix the config or use the matching checkpoint)"
        case let .missingTensor(file, tensor):
            return "\(file): tensor \(tensor) is missing; the checkpoint does not match its config.json (or is incomplete)"
        case let .invalidFile(path, reason):
            return "\(path): \(reason)"
        case let .tokenOutOfRange(id, position, vocabularySize):
            return "token id \(id) at position \(position) is outside the vocabulary 0..<\(vocabularySize);"
                + " the tokenizer does not match the model"
        case let .invalidBatch(reason):
            return "invalid batch: \(reason)"
        }
    }
}
