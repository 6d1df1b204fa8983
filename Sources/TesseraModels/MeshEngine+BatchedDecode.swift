import TesseraNN
import TesseraParallel
import TesseraTensor

/// One sequence's share of a batched decoding step: its `tokens` (a prompt chunk, or the token it generated last)
/// continue the `sequence.count` tokens its key/value blocks hold.
public struct DecodeSegment {
    public var sequence: KVBlockTable
    public var tokens: [Int32]
    /// Whether ``MeshEngine/decode(_:pool:)`` returns the logits after every one of `tokens` (a prompt's
    /// log-probabilities), not only after the last.
    public var logitsOfEveryRow: Bool

    public init(sequence: KVBlockTable, tokens: [Int32], logitsOfEveryRow: Bool = false) {
        self.sequence = sequence
        self.tokens = tokens
        self.logitsOfEveryRow = logitsOfEveryRow
    }
}

/// Batched decoding on any layout: the new tokens of every running sequence run through the model as one stacked
/// matrix (each linear layer once per step), attention per sequence over its blocks of a shared ``KVBlockPool``;
/// with pp the step's sequences are split into up to pp groups that flow through the stages as micro-batches (stage
/// `s` works on group `g` while stage `s + 1` works on group `g − 1`), each stage passing its hidden states on.
/// Every product is row-stable, so a sequence's logits do not depend on which other sequences share its steps or
/// its group (batch invariance), only on how its own tokens were split into steps.
extension MeshEngine {
    /// Tokens per key/value block unless a caller chooses otherwise.
    public static let defaultBlockSize = 16

    /// A key/value pool of `blocks` blocks for this rank's layers and heads (every rank of the model makes one alike).
    /// - Parameter longestSequence: the most tokens a sequence may hold (default and upper limit: the model's
    ///   context); the pool must hold one such sequence.
    /// - Parameter cacheType: how keys and values are stored (``KVBlockPool/cacheTypes``).
    /// - Throws: the ``KVCacheError`` of ``KVBlockPool/init(blocks:blockSize:layers:kvHeads:headDim:longestSequence:cacheType:)``.
    public func makeBlockPool(blocks: Int, blockSize: Int = MeshEngine.defaultBlockSize, longestSequence: Int? = nil,
                              cacheType: DType = .f32) throws -> KVBlockPool {
        let attention = model.chunks.lazy.flatMap(\.blocks).first?.attention
        return try KVBlockPool(blocks: blocks, blockSize: blockSize, layers: model.chunks.reduce(0) { $0 + $1.blocks.count },
                               kvHeads: attention?.kvHeads ?? 0, headDim: attention?.headDim ?? 0,
                               longestSequence: min(longestSequence ?? config.contextLength, config.contextLength), cacheType: cacheType)
    }

    /// Runs one batched step: reserves each segment's blocks in `pool`, runs every segment's tokens after those its
    /// sequence holds, and returns for each segment, in order, the logits `[vocabulary]` of the token after its last
    /// token (the same on every rank); a segment with `logitsOfEveryRow` gets `[tokens, vocabulary]`, row r the logits
    /// of the token after its token r. Every rank calls it with the same segments. With pp > 1 the segments run as
    /// up to pp consecutive groups of about equal rows (``DecodeBatch/groups(rows:into:)``), one micro-batch each.
    /// - Throws: ``ModelError/invalidBatch(reason:)`` for an empty segment, a sequence twice in one step, a sequence
    ///   past the context, or sequence parallelism; ``ModelError/tokenOutOfRange(id:position:vocabularySize:)``;
    ///   ``KVCacheError/outOfBlocks(needed:free:)``; ``ContextParallelError`` with cp > 1; ``CollectiveError``.
    public func decode(_ segments: [DecodeSegment], pool: KVBlockPool) throws -> [[Float]] {
        try refuseContextParallel("incremental decoding")
        guard !model.context.sequenceParallel else {
            throw ModelError.invalidConfiguration(field: "sequence parallelism",
                                                  reason: "incremental decoding runs without it; decode with an engine whose layout has it off")
        }
        try validate(segments)
        for segment in segments { try pool.reserve(segment.sequence, tokens: segment.sequence.count + segment.tokens.count) }
        let groups = DecodeBatch.groups(rows: segments.map(\.tokens.count), into: parallel.pp)
        let batches = groups.map { group in DecodeBatch(segments[group].map { ($0.sequence, $0.tokens) }) }
        let v = config.vocabularySize
        // With one stage each segment's logits are copied straight from the head into an array of their own; with
        // pp > 1 they travel to the other stages as one broadcast buffer.
        var logits = [Float](repeating: 0, count: parallel.pp > 1 ? segments.count * v : 0), lastRows: [[Float]] = []
        var everyRow = [[Float]?](repeating: nil, count: segments.count), hidden: FloatBuffer?
        try forwardThroughPipeline(rows: batches.map(\.rows), { chunk, state, firstLayer, input, m in
            hidden = try chunk.forward(batches[m], input: input, state: state, pool: pool, firstLayer: firstLayer)
            return hidden
        }, finish: { state, m in
            let group = groups[m]
            if parallel.pp > 1 {
                try logits.withUnsafeMutableBufferPointer {
                    try gatheredLogits(state, tokens: group.count, into: $0.baseAddress! + group.lowerBound * v)
                }
            } else {
                lastRows = try gatheredLogitRows(state, tokens: group.count)
            }
            if let hidden {
                let rows = try logitsOfEveryRow(Array(segments[group]), batch: batches[m], hidden: hidden)
                everyRow.replaceSubrange(group, with: rows)
            }
        })
        try shareFromLastStage(&logits)
        try shareFromLastStage(&everyRow, of: segments)
        for segment in segments { segment.sequence.count += segment.tokens.count }
        return (0..<segments.count).map { everyRow[$0] ?? (lastRows.isEmpty ? Array(logits[$0 * v..<($0 + 1) * v]) : lastRows[$0]) }
    }

    /// Checks each segment's tokens and length, and that no sequence appears twice.
    private func validate(_ segments: [DecodeSegment]) throws {
        var seen = Set<ObjectIdentifier>()
        for segment in segments {
            guard !segment.tokens.isEmpty, seen.insert(ObjectIdentifier(segment.sequence)).inserted else {
                throw ModelError.invalidBatch(reason: "each sequence of a decoding step needs at least one token and appears once")
            }
            guard segment.sequence.count + segment.tokens.count <= config.contextLength else {
                throw ModelError.invalidBatch(reason: "\(segment.tokens.count) more tokens after \(segment.sequence.count) exceed the model's context of \(config.contextLength); start a new sequence")
            }
            try MicroBatch(tokens: segment.tokens, targets: nil, batch: 1, length: segment.tokens.count)
                .validate(for: config, tp: model.context.tp.size, sequenceParallel: false)
        }
    }
}
