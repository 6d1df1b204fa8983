import Foundation
import TesseraModels
import TesseraParallel

/// Mean next-token loss of a model on a token stream, and its perplexity.
public struct EvaluationResult: Sendable, Hashable, Codable {
    /// Mean cross-entropy (nats) over the scored targets.
    public var loss: Double
    /// `exp(loss)`.
    public var perplexity: Double
    /// Targets scored.
    public var tokens: Int

    public init(loss: Double, tokens: Int) {
        self.loss = loss
        self.perplexity = exp(loss)
        self.tokens = tokens
    }
}

/// Scores a token stream in independent windows: window `k` feeds `ids[k·T ..< min((k+1)·T, N−1)]` and predicts
/// the ids one position later, so every id after the first is a target exactly once (`N − 1` targets) and no
/// window sees more than `T` tokens of context. A stream that fits the window is scored in one pass, as a
/// reference implementation scoring the whole text at once would.
public enum Evaluation {
    /// The input ranges of the windows over a stream of `tokenCount` ids.
    public static func windows(tokenCount: Int, sequenceLength: Int) -> [Range<Int>] {
        precondition(sequenceLength >= 1, "window length must be positive")
        let inputs = max(0, tokenCount - 1)
        return stride(from: 0, to: inputs, by: sequenceLength).map { $0..<min($0 + sequenceLength, inputs) }
    }

    /// Mean loss of `engine`'s model over `ids` (every rank of the model's groups calls this with the same ids).
    ///
    /// - Parameters:
    ///   - sequenceLength: the window `T` (at most the model's context).
    ///   - batchSize: full windows scored together per forward pass.
    ///   - path: the text the ids came from, named in errors.
    /// - Throws: ``TrainingError/dataTooShort(path:tokens:needed:fix:)`` for fewer than two ids;
    ///   ``TrainingError/invalidOption(option:reason:)`` for a window longer than the context;
    ///   ``TrainingError/tokenOutOfRange(path:id:position:vocabularySize:tokenizer:)``; ``CollectiveError``.
    public static func evaluate(_ engine: MeshEngine, ids: [Int32], sequenceLength: Int, batchSize: Int = 8,
                                path: String, tokenizerName: String) throws -> EvaluationResult {
        let context = engine.config.contextLength
        guard sequenceLength >= 1, sequenceLength <= context else {
            throw TrainingError.invalid(.evaluationWindow, "\(sequenceLength) must lie in 1...\(context) (the model's context)")
        }
        guard ids.count >= 2 else {
            throw TrainingError.dataTooShort(path: path, tokens: ids.count, needed: 2,
                                             fix: "a text needs at least two tokens to score one prediction")
        }
        try TrainingData.checkVocabulary(ids, path: path, vocabularySize: engine.config.vocabularySize, tokenizerName: tokenizerName)
        let all = windows(tokenCount: ids.count, sequenceLength: sequenceLength)
        // Equal-length windows go together; the shorter last window, if any, goes alone.
        let full = all.filter { $0.count == sequenceLength }, rest = all.filter { $0.count != sequenceLength }
        var groups = stride(from: 0, to: full.count, by: batchSize).map { Array(full[$0..<min($0 + batchSize, full.count)]) }
        groups += rest.map { [$0] }
        var lossSum = 0.0, tokens = 0
        for group in groups {
            let length = group[0].count
            var inputs: [Int32] = [], targets: [Int32] = []
            for window in group {
                inputs += ids[window]
                targets += ids[window.lowerBound + 1..<window.upperBound + 1]
            }
            let batch = try MicroBatch(tokens: inputs, targets: targets, batch: group.count, length: length)
            let scored = try engine.evaluate(batch)
            lossSum += scored.lossSum
            tokens += scored.tokens
        }
        return EvaluationResult(loss: lossSum / Double(tokens), tokens: tokens)
    }
}
