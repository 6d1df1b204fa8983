import Foundation
import TesseraServe

/// A deterministic model: each sequence's next token is a function of its own tokens so far (so its answer cannot
/// depend on what else runs), and every plan is recorded.
final class FakeBackend: DecodeBackend, @unchecked Sendable {
    let vocabularySize: Int
    let contextLength: Int
    private(set) var plans: [StepPlan] = []
    private(set) var histories: [Int: [Int32]] = [:]
    private(set) var capacities: [Int: Int] = [:]
    /// Tests set this to mix sequences up (a deliberately broken backend).
    var mixSequences = false
    /// Tests set this to return every row's logits from the row after it (a deliberately broken backend).
    var everyRowOneLate = false
    /// Tests set this to make every step take at least this many seconds (a slow model).
    var stepDelay: TimeInterval = 0

    /// The ids the model prefers come from `preferred` (default: the whole vocabulary).
    let preferred: Range<Int>

    /// Key/value blocks of 4 tokens, each admitted sequence holding its capacity's blocks until released.
    private(set) var blockUsage: KVBlockUsage

    init(vocabularySize: Int = 50, contextLength: Int = 64, preferred: Range<Int>? = nil, blocks: Int = 1000) {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.preferred = preferred ?? 0..<vocabularySize
        blockUsage = KVBlockUsage(blockSize: 4, total: blocks, free: blocks)
    }

    /// The token the model prefers after `history`.
    func preferred(after history: [Int32]) -> Int {
        preferred.lowerBound + Int(history.reduce(7) { ($0 &* 31 &+ Int($1)) % 1_000_003 }) % preferred.count
    }

    func run(_ plan: StepPlan) throws -> [[Float]] {
        plans.append(plan)
        if stepDelay > 0 { Thread.sleep(forTimeInterval: stepDelay) }
        for sequence in plan.released {
            guard histories.removeValue(forKey: sequence) != nil else { throw ServeError.internalFailure("released \(sequence) twice") }
            blockUsage.free += blockUsage.blocks(forTokens: capacities[sequence]!)
        }
        for admission in plan.admitted {
            histories[admission.sequence] = []
            capacities[admission.sequence] = admission.capacity
            blockUsage.free -= blockUsage.blocks(forTokens: admission.capacity)
            guard blockUsage.free >= 0 else { throw ServeError.internalFailure("sequence \(admission.sequence) admitted without free blocks") }
        }
        return try plan.work.map { work in
            guard histories[work.sequence] != nil else { throw ServeError.internalFailure("sequence \(work.sequence) not admitted") }
            let before = histories[work.sequence]!.count
            histories[work.sequence]! += work.tokens
            let source = mixSequences ? histories.keys.max()! : work.sequence
            let count = work.tokens.count
            let rows = work.logitsOfEveryRow ? (1...count).map { everyRowOneLate ? min($0 + 1, count) : $0 } : [count]
            return rows.flatMap { row in logits(after: Array(histories[source]!.prefix(before + row))) }
        }
    }

    /// The logits after `history`: 5 for the preferred token, 0 for the others.
    func logits(after history: [Int32]) -> [Float] {
        var logits = [Float](repeating: 0, count: vocabularySize)
        logits[preferred(after: history)] = 5
        return logits
    }
}

/// Collects one sequence's events from the scheduler thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SequenceEvent] = []

    func append(_ event: SequenceEvent) { lock.withLock { events.append(event) } }
    var all: [SequenceEvent] { lock.withLock { events } }
    var tokens: [Int32] { all.compactMap { if case let .token(t) = $0 { t.id } else { nil } } }
    var promptScores: [[GeneratedToken]] { all.compactMap { if case let .prompt(scores) = $0 { scores } else { nil } } }
    var finish: FinishReason? { all.compactMap { if case let .finished(r) = $0 { r } else { nil } }.first }
    var endCount: Int { all.filter { if case .finished = $0 { true } else if case .failed = $0 { true } else { false } }.count }
}
