import Foundation
import TesseraModels
import TesseraParallel

/// Mean next-token loss of a model on a token stream, and its perplexity; for a mixture-of-experts model also the
/// router losses, with ``loss`` the objective training reports (``StepMetrics/loss``).
public struct EvaluationResult: Sendable, Hashable, Codable {
    /// Mean cross-entropy (nats) over the scored targets, plus for a mixture of experts its router losses weighted as
    /// configured (each window batch's losses weighted by its targets, as training weighs micro-batches).
    public var loss: Double
    /// `exp` of the mean cross-entropy.
    public var perplexity: Double
    /// Targets scored.
    public var tokens: Int
    /// Mixture of experts: the mean cross-entropy alone.
    public var lmLoss: Double?
    /// Mixture of experts: the load-balancing loss, whether or not ``loss`` includes it (as ``StepMetrics/auxLoss``).
    public var auxLoss: Double?
    /// Mixture of experts: the router z-loss, whether or not ``loss`` includes it.
    public var zLoss: Double?

    /// A dense model's result: `loss` is the mean cross-entropy.
    public init(loss: Double, tokens: Int) {
        self.loss = loss
        self.perplexity = exp(loss)
        self.tokens = tokens
    }

    /// A mixture of experts' result from the mean cross-entropy and the token-weighted means of the router losses
    /// (`routerObjective`: what they add to the objective).
    public init(lmLoss: Double, routerObjective: Double, auxLoss: Double, zLoss: Double, tokens: Int) {
        self.init(loss: lmLoss + routerObjective, tokens: tokens)
        perplexity = exp(lmLoss)
        self.lmLoss = lmLoss
        self.auxLoss = auxLoss
        self.zLoss = zLoss
    }

    enum CodingKeys: String, CodingKey {
        case loss, perplexity, tokens
        case lmLoss = "lm_loss"
        case auxLoss = "aux_loss"
        case zLoss = "z_loss"
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

    /// Mean loss of `engine`'s model over `ids` (every rank of the model's groups calls this with the same ids), with a
    /// mixture of experts' router losses beside it.
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
        var lossSum = 0.0, tokens = 0, router: (objective: Double, balance: Double, z: Double)?
        for group in groups {
            let length = group[0].count
            var inputs: [Int32] = [], targets: [Int32] = []
            for window in group {
                inputs += ids[window]
                targets += ids[window.lowerBound + 1..<window.upperBound + 1]
            }
            let batch = try MicroBatch(tokens: inputs, targets: targets, batch: group.count, length: length)
            let scored = try engine.score(batch)
            lossSum += scored.lossSum
            tokens += scored.tokens
            if let losses = scored.routerLosses {
                let weight = Double(scored.tokens), sums = router ?? (0, 0, 0)
                router = (sums.objective + losses.objective * weight, sums.balance + losses.balance * weight, sums.z + losses.z * weight)
            }
        }
        let count = Double(tokens)
        guard let router else { return EvaluationResult(loss: lossSum / count, tokens: tokens) }
        return EvaluationResult(lmLoss: lossSum / count, routerObjective: router.objective / count, auxLoss: router.balance / count,
                                zLoss: router.z / count, tokens: tokens)
    }
}
