import TesseraCollectives

/// Sends each step's plan from rank 0 to the other ranks of a tensor-parallel model, so that every rank runs the
/// same step: rank 0 wraps its backend in ``BroadcastingBackend``; every other rank calls ``follow(world:backend:)``.
public enum PlanBroadcast {
    /// The plan as integers: shutdown flag, released ids, admissions (id, capacity), work (id, every-row flag, count,
    /// tokens).
    package static func encode(_ plan: StepPlan) -> [Int32] {
        var words: [Int32] = [plan.shutdown ? 1 : 0, Int32(plan.released.count)]
        words += plan.released.map { Int32($0) }
        words.append(Int32(plan.admitted.count))
        for admission in plan.admitted { words += [Int32(admission.sequence), Int32(admission.capacity)] }
        words.append(Int32(plan.work.count))
        for work in plan.work { words += [Int32(work.sequence), work.logitsOfEveryRow ? 1 : 0, Int32(work.tokens.count)] + work.tokens }
        return words
    }

    /// The plan ``encode(_:)`` wrote.
    /// - Throws: ``ServeError/internalFailure(_:)`` for words that are not a plan (a broken transfer).
    package static func decode(_ words: [Int32]) throws -> StepPlan {
        var reader = WordReader(words: words)
        var plan = StepPlan(shutdown: try reader.next() != 0)
        plan.released = try (0..<reader.count()).map { _ in Int(try reader.next()) }
        plan.admitted = try (0..<reader.count()).map { _ in
            SequenceAdmission(sequence: Int(try reader.next()), capacity: Int(try reader.next()))
        }
        plan.work = try (0..<reader.count()).map { _ in
            let sequence = Int(try reader.next()), everyRow = try reader.next() != 0
            return SequenceWork(sequence: sequence, tokens: try (0..<reader.count()).map { _ in try reader.next() }, logitsOfEveryRow: everyRow)
        }
        guard reader.atEnd else { throw ServeError.internalFailure("a step plan has \(words.count) words, more than it describes") }
        return plan
    }

    /// Sends `plan` from rank 0 (when `plan` is given) or receives it (every other rank).
    package static func exchange(_ plan: StepPlan?, world: any Communicator) throws -> StepPlan {
        var words = plan.map(encode) ?? []
        var count = [Int32(words.count)]
        try count.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        if plan == nil { words = [Int32](repeating: 0, count: Int(count[0])) }
        try words.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        return try plan ?? decode(words)
    }

    /// The loop of every rank but 0: receive a plan, run it, until a plan says shut down.
    public static func follow(world: any Communicator, backend: any DecodeBackend) throws {
        while true {
            let plan = try exchange(nil, world: world)
            if plan.shutdown { return }
            _ = try backend.run(plan)
        }
    }
}

/// Rank 0's backend with tensor parallelism: each plan goes to every rank before it runs here.
public final class BroadcastingBackend: DecodeBackend {
    private let local: any DecodeBackend
    private let world: any Communicator

    public init(local: any DecodeBackend, world: any Communicator) {
        self.local = local
        self.world = world
    }

    public var vocabularySize: Int { local.vocabularySize }
    public var contextLength: Int { local.contextLength }
    public var blockUsage: KVBlockUsage { local.blockUsage }

    public func run(_ plan: StepPlan) throws -> [[Float]] {
        _ = try PlanBroadcast.exchange(plan, world: world)
        return plan.shutdown ? [] : try local.run(plan)
    }
}

/// Reads a plan's integers in order.
private struct WordReader {
    package let words: [Int32]
    package var position = 0

    package mutating func next() throws -> Int32 {
        guard position < words.count else { throw ServeError.internalFailure("a step plan ends early at word \(position)") }
        defer { position += 1 }
        return words[position]
    }

    /// A count, which must be non-negative.
    package mutating func count() throws -> Int {
        let value = Int(try next())
        guard value >= 0 else { throw ServeError.internalFailure("a step plan has a negative count \(value)") }
        return value
    }

    package var atEnd: Bool { position == words.count }
}
