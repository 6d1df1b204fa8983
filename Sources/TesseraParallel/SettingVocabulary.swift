/// How messages name a setting. Library errors name each setting by its library name, the property path a caller
/// sets (`memory.zeroStage`, `TrainingConfiguration.optimizer.learningRate`); a front end words the same message in
/// its own terms (the CLI by its flags, `--zero-stage`, `--lr`) by passing its vocabulary. So the library never
/// names a flag, and a front end never rewrites prose.
public struct SettingVocabulary: Sendable {
    private let wordName: @Sendable (String) -> String
    private let wordSetting: @Sendable (String, String) -> String

    /// - Parameters:
    ///   - name: a setting's term given its library name ("memory.zeroStage" → "--zero-stage"); names it does not
    ///     know should come back unchanged.
    ///   - setting: a setting with a value ("memory.zeroStage", "2" → "--zero-stage 2").
    public init(name: @escaping @Sendable (String) -> String, setting: @escaping @Sendable (String, String) -> String) {
        wordName = name
        wordSetting = setting
    }

    /// The term for the setting whose library name is `setting`.
    public func name(_ setting: String) -> String { wordName(setting) }

    /// The term for the setting whose library name is `setting`, set to `value`.
    public func setting(_ setting: String, _ value: String) -> String { wordSetting(setting, value) }

    /// The library's own terms: property paths, and `path = value`.
    public static let library = SettingVocabulary(name: { $0 }, setting: { "\($0) = \($1)" })
}

extension SettingVocabulary {
    /// The term for a ``ParallelConfig`` setting.
    public func name(_ parameter: LayoutParameter) -> String { name(parameter.name) }

    /// The term for a ``ParallelConfig`` setting set to `value`.
    public func setting(_ parameter: LayoutParameter, _ value: String) -> String { setting(parameter.name, value) }
}

extension SettingText.StringInterpolation {
    /// The ``ParallelConfig`` setting `name`.
    public mutating func appendInterpolation(name: LayoutParameter) { appendInterpolation(name: name.name) }
}

/// Text that names settings by their library names and is worded for its reader when shown: built by string
/// interpolation, `"needs \(name: "TrainingConfiguration.checkpoint.directory") to say where checkpoints go"`, and
/// shown with ``worded(_:)`` (``description`` uses ``SettingVocabulary/library``). Errors carry it where a reason or
/// a fix names another setting.
public struct SettingText: Equatable, Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    enum Part: Equatable, Sendable {
        case text(String)
        case name(String)
        case setting(String, value: String)
    }

    private var parts: [Part]

    public init(stringLiteral value: String) { parts = value.isEmpty ? [] : [.text(value)] }

    public init(stringInterpolation: StringInterpolation) { parts = stringInterpolation.parts }

    /// Parts in canonical form (adjacent texts merged, no empty text), so equal texts compare equal however they
    /// were put together.
    public struct StringInterpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {}

        mutating func append(_ part: Part) {
            switch (parts.last, part) {
            case (_, .text("")): return
            case let (.text(previous)?, .text(next)): parts[parts.count - 1] = .text(previous + next)
            default: parts.append(part)
            }
        }

        public mutating func appendLiteral(_ literal: String) { append(.text(literal)) }

        /// A value as plain text.
        public mutating func appendInterpolation<Value>(_ value: Value) { append(.text("\(value)")) }

        /// Another text, its setting names kept.
        public mutating func appendInterpolation(_ text: SettingText) { text.parts.forEach { append($0) } }

        /// The setting whose library name is `name`.
        public mutating func appendInterpolation(name: String) { append(.name(name)) }

        /// The setting whose library name is `setting`, set to `value`.
        public mutating func appendInterpolation<Value>(setting: String, _ value: Value) {
            append(.setting(setting, value: "\(value)"))
        }
    }

    /// The text with every setting named in `vocabulary`'s terms.
    public func worded(_ vocabulary: SettingVocabulary) -> String {
        parts.map { part in
            switch part {
            case let .text(text): return text
            case let .name(name): return vocabulary.name(name)
            case let .setting(name, value): return vocabulary.setting(name, value)
            }
        }.joined()
    }

    public var description: String { worded(.library) }

    /// The two texts one after the other (to break a long message over lines).
    public static func + (lhs: SettingText, rhs: SettingText) -> SettingText { "\(lhs)\(rhs)" }
}
