import TesseraParallel

/// The token ids of one micro-batch: `batch` sequences of `length` tokens, row-major `[batch, length]`,
/// with the next-token targets when training or evaluating.
public struct MicroBatch: Sendable, Hashable {
    public let tokens: [Int32]
    /// Targets `[batch, length]`, or `nil` when only logits are wanted.
    public let targets: [Int32]?
    public let batch: Int
    public let length: Int
    /// With context parallelism: the share of each sequence these rows are (``sharded(_:faults:)``); the rows are
    /// then `[batch, shard.localLength]` and their positions the shard's. `nil`: whole sequences.
    public internal(set) var shard: ContextShard?

    /// - Throws: ``ModelError/invalidBatch(reason:)`` when the counts do not match `batch × length`.
    public init(tokens: [Int32], targets: [Int32]?, batch: Int, length: Int) throws {
        guard batch > 0, length > 0 else { throw ModelError.invalidBatch(reason: "batch (\(batch)) and length (\(length)) must be positive") }
        guard tokens.count == batch * length else {
            throw ModelError.invalidBatch(reason: "\(tokens.count) tokens for \(batch) sequences of \(length)")
        }
        if let targets, targets.count != tokens.count {
            throw ModelError.invalidBatch(reason: "\(targets.count) targets for \(tokens.count) tokens")
        }
        self.tokens = tokens
        self.targets = targets
        self.batch = batch
        self.length = length
    }

    /// Tokens in the micro-batch.
    public var tokenCount: Int { batch * length }

    /// Checks every id and target against the vocabulary and the length against the context.
    /// - Throws: ``ModelError/tokenOutOfRange(id:position:vocabularySize:)`` or ``ModelError/invalidBatch(reason:)``.
    public func validate(for config: TransformerConfig, tp: Int, sequenceParallel: Bool) throws {
        guard length <= config.contextLength else {
            throw ModelError.invalidBatch(reason: "sequence length \(length) exceeds the model's context of \(config.contextLength); use a sequence length ≤ \(config.contextLength)")
        }
        if sequenceParallel && tokenCount % tp != 0 {
            throw ModelError.invalidBatch(reason: "\(tokenCount) tokens per micro-batch do not split over tp=\(tp) for sequence parallelism; use a micro-batch whose batch × length is a multiple of \(tp)")
        }
        for ids in [tokens, targets ?? []] {
            if let i = ids.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
                throw ModelError.tokenOutOfRange(id: Int(ids[i]), position: i, vocabularySize: config.vocabularySize)
            }
        }
    }
}
