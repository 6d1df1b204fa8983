import TesseraParallel

/// Why a training, evaluation or generation run cannot start or go on.
///
/// Every message is one line that names the file or setting at fault and the fix, so a user can act on it
/// without reading code. Settings are named by their library names (``TrainingSetting/name``, ``LayoutParameter/name``);
/// a front end words them in its own terms with ``message(naming:)``. Errors from lower layers (``ModelError``, ``CollectiveError``, format errors) pass
/// through unchanged: they already name their file and fix.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A data file is missing or cannot be read.
    case unreadableData(path: String, reason: String)
    /// A data file is not UTF-8; `offset` is the first invalid byte.
    case invalidUTF8(path: String, offset: Int)
    /// A text holds fewer tokens than one step (or one evaluation window) needs.
    case dataTooShort(path: String, tokens: Int, needed: Int, fix: SettingText)
    /// The tokenizer produced an id the model's vocabulary does not have.
    case tokenOutOfRange(path: String, id: Int, position: Int, vocabularySize: Int, tokenizer: String)
    /// A ``TrainingSetting/tokenizer`` value that is neither `byte`, `gpt2` nor a usable path.
    case invalidTokenizer(path: String, reason: String)
    /// A model path that is neither a Hugging Face directory nor a GGUF file.
    case invalidModel(path: String, reason: String)
    /// Options that contradict each other or are out of range; `option` is the library name of the setting to
    /// change (a ``TrainingSetting/name`` or ``LayoutParameter/name``; a front end's own options may pass its term).
    case invalidOption(option: String, reason: SettingText)
    /// A file Tessera writes (metrics, cache, checkpoint) could not be written.
    case unwritable(path: String, reason: String)
    /// A prompt file (one prompt per line) with a line that is not a prompt; `line` counts from 1.
    case invalidPromptLine(path: String, line: Int, reason: String)

    public var description: String { message(naming: .library) }

    /// The message with every setting named in `vocabulary`'s terms.
    public func message(naming vocabulary: SettingVocabulary) -> String {
        let data = vocabulary.name(TrainingSetting.data.name)
        switch self {
        case let .unreadableData(path, reason):
            return "\(path): cannot read the data (\(reason)); set \(data) to an existing, readable UTF-8 text file"
        case let .invalidUTF8(path, offset):
            return "\(path): not UTF-8 text (first invalid byte at offset \(offset)); convert it first"
                + " (e.g. iconv -f LATIN1 -t UTF-8) or set \(data) to another file"
        case let .dataTooShort(path, tokens, needed, fix):
            return "\(path): \(tokens) tokens are fewer than the \(needed) one step needs; \(fix.worded(vocabulary))"
        case let .tokenOutOfRange(path, id, position, vocabularySize, tokenizer):
            return "\(path): the \(tokenizer) tokenizer produced id \(id) at token \(position), outside the model's vocabulary"
                + " 0..<\(vocabularySize); use the tokenizer the model was trained with (or a model whose vocab_size exceeds \(id))"
        case let .invalidTokenizer(path, reason):
            return "\(path): \(reason); set \(vocabulary.name(TrainingSetting.tokenizer.name)) to byte, gpt2, a tokenizer.json,"
                + " a GPT-2 directory (vocab.json + merges.txt) or a GGUF file"
        case let .invalidModel(path, reason):
            return "\(path): \(reason); pass a Hugging Face directory (config.json + model.safetensors) or a .gguf file"
        case let .invalidOption(option, reason):
            return "\(vocabulary.name(option)): \(reason.worded(vocabulary))"
        case let .unwritable(path, reason):
            return "\(path): cannot write (\(reason)); choose a writable location"
        case let .invalidPromptLine(path, line, reason):
            return "\(path), line \(line): \(reason); put one non-empty UTF-8 prompt on each line"
        }
    }
}

extension TrainingError {
    /// Throws ``invalidOption(option:reason:)`` ("0 must be at least 1") unless `value` is at least 1; `option` is a
    /// library name (``TrainingSetting/name``, ``LayoutParameter/name``).
    static func requireAtLeastOne(_ value: Int, option: String) throws {
        guard value >= 1 else { throw TrainingError.invalidOption(option: option, reason: "\(value) must be at least 1") }
    }

    /// ``invalidOption(option:reason:)`` for a training setting.
    static func invalid(_ setting: TrainingSetting, _ reason: SettingText) -> TrainingError {
        .invalidOption(option: setting.name, reason: reason)
    }
}
