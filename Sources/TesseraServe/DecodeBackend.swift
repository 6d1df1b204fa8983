/// A sequence that joins the batch: the backend sets aside key/value room for `capacity` tokens.
public struct SequenceAdmission: Sendable, Equatable {
    public var sequence: Int
    public var capacity: Int

    public init(sequence: Int, capacity: Int) {
        self.sequence = sequence
        self.capacity = capacity
    }
}

/// One sequence's share of a step: `tokens` follow those the sequence already ran (a chunk of its prompt, or the
/// one token it generated last).
public struct SequenceWork: Sendable, Equatable {
    public var sequence: Int
    public var tokens: [Int32]
    /// Whether the step returns the logits after every one of `tokens` (a prompt chunk whose log-probabilities were
    /// asked for), not only after the last.
    public var logitsOfEveryRow: Bool

    public init(sequence: Int, tokens: [Int32], logitsOfEveryRow: Bool = false) {
        self.sequence = sequence
        self.tokens = tokens
        self.logitsOfEveryRow = logitsOfEveryRow
    }
}

/// What every rank of the model runs in one step, in this order: free `released`, admit `admitted`, run `work`.
///
/// The scheduler makes one plan per step; with tensor parallelism rank 0 sends it to the other ranks so that all run
/// the same step (``PlanBroadcast``). `shutdown` ends the other ranks' loops.
public struct StepPlan: Sendable, Equatable {
    public var released: [Int]
    public var admitted: [SequenceAdmission]
    public var work: [SequenceWork]
    public var shutdown: Bool

    public init(released: [Int] = [], admitted: [SequenceAdmission] = [], work: [SequenceWork] = [], shutdown: Bool = false) {
        self.released = released
        self.admitted = admitted
        self.work = work
        self.shutdown = shutdown
    }

    /// Nothing to run (an idle heartbeat that keeps waiting ranks within their collective deadline).
    public var isEmpty: Bool { released.isEmpty && admitted.isEmpty && work.isEmpty && !shutdown }
}

/// The key/value block pool as the scheduler sees it: sequences are admitted only while blocks for their whole
/// capacity are free, so a running sequence never waits for memory.
public struct KVBlockUsage: Sendable, Equatable {
    /// Tokens per block.
    public var blockSize: Int
    /// Blocks in the pool.
    public var total: Int
    /// Blocks no sequence holds.
    public var free: Int

    public init(blockSize: Int, total: Int, free: Int) {
        self.blockSize = blockSize
        self.total = total
        self.free = free
    }

    public var used: Int { total - free }

    /// Blocks a sequence of `tokens` tokens holds.
    public func blocks(forTokens tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }
}

/// The model as the scheduler drives it: sequences are admitted (their key/value blocks reserved), run in chunks
/// (all of a step's work in one batched call), and released. Implementations are used from one thread only (the
/// scheduler's, or a follower rank's).
public protocol DecodeBackend: AnyObject {
    var vocabularySize: Int { get }
    /// Most tokens (prompt and continuation) one sequence may hold.
    var contextLength: Int { get }
    /// The key/value pool after the last plan ran.
    var blockUsage: KVBlockUsage { get }

    /// Runs `plan` and returns, for each entry of `plan.work` in order, the logits `[vocabularySize]` that predict
    /// the token after that entry's last token; an entry with `logitsOfEveryRow` gets `[tokens, vocabularySize]`,
    /// row r predicting the token after its token r.
    /// - Throws: when the model fails (an id outside the vocabulary, a sequence over its capacity, no free blocks
    ///   for an admission, a peer rank lost).
    func run(_ plan: StepPlan) throws -> [[Float]]
}
