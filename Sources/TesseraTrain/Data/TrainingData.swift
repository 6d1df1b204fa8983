import TesseraParallel

/// A tokenized text checked against a model and a batch shape, handing out the sequences of each step in
/// ``BatchOrder``'s order.
public struct TrainingData: Sendable {
    /// The text file the ids came from (named in errors).
    public let path: String
    public let ids: [Int32]
    public let order: BatchOrder

    /// - Parameters:
    ///   - vocabularySize: the model's vocabulary; every id must lie in `0..<vocabularySize`.
    ///   - tokenizerName: named in the error when an id does not fit.
    /// - Throws: ``TrainingError/dataTooShort(path:tokens:needed:fix:)`` when the text holds fewer than the
    ///   `G·T + 1` ids one step reads; ``TrainingError/tokenOutOfRange(path:id:position:vocabularySize:tokenizer:)``.
    public init(path: String, ids: [Int32], sequenceLength: Int, globalBatchSize: Int, vocabularySize: Int,
                tokenizerName: String) throws {
        try Self.checkVocabulary(ids, path: path, vocabularySize: vocabularySize, tokenizerName: tokenizerName)
        let needed = globalBatchSize * sequenceLength + 1
        guard ids.count >= needed else {
            throw TrainingError.dataTooShort(
                path: path, tokens: ids.count, needed: needed,
                fix: "use a longer text or lower \(name: .globalBatchSize) (\(globalBatchSize)) or \(name: .sequenceLength) (\(sequenceLength))")
        }
        self.path = path
        self.ids = ids
        self.order = try BatchOrder(streamLength: ids.count, sequenceLength: sequenceLength, globalBatchSize: globalBatchSize)
    }

    /// Inputs and targets of sequences `sequences` of step `step` (from 0), each `[sequences.count, T]` row-major.
    public func batch(step: Int, sequences: Range<Int>) -> (inputs: [Int32], targets: [Int32]) {
        let count = sequences.count * order.sequenceLength
        var inputs = [Int32](repeating: 0, count: count), targets = inputs
        ids.withUnsafeBufferPointer { stream in
            inputs.withUnsafeMutableBufferPointer { i in
                targets.withUnsafeMutableBufferPointer { t in order.fill(step: step, sequences: sequences, from: stream, inputs: i, targets: t) }
            }
        }
        return (inputs, targets)
    }

    /// Throws for the first id outside `0..<vocabularySize`.
    static func checkVocabulary(_ ids: [Int32], path: String, vocabularySize: Int, tokenizerName: String) throws {
        if let position = ids.firstIndex(where: { $0 < 0 || Int($0) >= vocabularySize }) {
            throw TrainingError.tokenOutOfRange(path: path, id: Int(ids[position]), position: position,
                                                vocabularySize: vocabularySize, tokenizer: tokenizerName)
        }
    }
}
