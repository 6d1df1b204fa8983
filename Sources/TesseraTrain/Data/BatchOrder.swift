import TesseraParallel

/// The order in which training reads a token stream: fixed by the step and the sequence's position in
/// the global batch alone, so every layout (micro-batching, data parallelism) sees the same tokens.
///
/// With `N` ids in the stream, `T` tokens per sequence and `G` sequences per global batch, sequence `i`
/// (from 0) of step `s` (from 0) has
/// - inputs  `ids[(s·G + i)·T + j]`     for `j` in `0..<T`,
/// - targets `ids[(s·G + i)·T + j + 1]` for `j` in `0..<T`,
/// every index taken modulo `N`: the stream wraps around at its end (a sequence may straddle it, reading the
/// tail and then the head). The loss of a step is the mean cross-entropy over all `G·T` targets.
public struct BatchOrder: Sendable, Hashable, Codable {
    /// `N`: ids in the stream.
    public let streamLength: Int
    /// `T`: tokens per sequence.
    public let sequenceLength: Int
    /// `G`: sequences per global batch.
    public let globalBatchSize: Int

    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` for non-positive sizes.
    public init(streamLength: Int, sequenceLength: Int, globalBatchSize: Int) throws {
        try TrainingError.requireAtLeastOne(sequenceLength, option: TrainingSetting.sequenceLength.name)
        try TrainingError.requireAtLeastOne(globalBatchSize, option: TrainingSetting.globalBatchSize.name)
        guard streamLength >= 2 else {
            throw TrainingError.invalid(.data, "a stream of \(streamLength) ids has no next-token target")
        }
        self.streamLength = streamLength
        self.sequenceLength = sequenceLength
        self.globalBatchSize = globalBatchSize
    }

    /// Ids one step reads without wrapping: `G·T + 1` (the inputs plus the last target).
    public var tokensPerStep: Int { globalBatchSize * sequenceLength + 1 }

    /// Stream index of the first input of sequence `sequence` of step `step`: `((s·G + i)·T) mod N`.
    public func start(step: Int, sequence: Int) -> Int {
        precondition(step >= 0 && (0..<globalBatchSize).contains(sequence), "step \(step), sequence \(sequence) out of range")
        // (a·b) mod N computed from the residues so long runs cannot overflow.
        let index = (step % streamLength * (globalBatchSize % streamLength) + sequence) % streamLength
        return index * (sequenceLength % streamLength) % streamLength
    }

    /// Writes the inputs and targets of sequences `sequences` of step `step`, row after row, into
    /// `inputs` and `targets` (each `sequences.count·T` long).
    public func fill(step: Int, sequences: Range<Int>, from ids: UnsafeBufferPointer<Int32>,
                     inputs: UnsafeMutableBufferPointer<Int32>, targets: UnsafeMutableBufferPointer<Int32>) {
        precondition(ids.count == streamLength, "stream of \(ids.count) ids, order made for \(streamLength)")
        let t = sequenceLength
        precondition(inputs.count >= sequences.count * t && targets.count >= sequences.count * t, "output too small")
        for (row, sequence) in sequences.enumerated() {
            var index = start(step: step, sequence: sequence)
            for j in 0..<t {
                inputs[row * t + j] = ids[index]
                index = index + 1 == streamLength ? 0 : index + 1
                targets[row * t + j] = ids[index]
            }
        }
    }
}

/// How one global batch is divided: over data-parallel ranks, then into micro-batches.
///
/// Data-parallel rank `r` of `D` takes the consecutive sequences `r·G/D ..< (r+1)·G/D` of the global batch;
/// micro-batch `m` of that rank takes the next `b` of them: `r·G/D + m·b ..< r·G/D + (m+1)·b`. Gradients are
/// accumulated over micro-batches and summed over ranks with every token weighted `1 / (G·T)`, so the step
/// equals the single-device step on the whole global batch.
public struct BatchLayout: Sendable, Hashable, Codable {
    /// `G`: sequences per optimizer step, over all ranks.
    public let globalBatchSize: Int
    /// `b`: sequences per forward/backward pass.
    public let microBatchSize: Int
    /// `D`: data-parallel ranks.
    public let dataParallelSize: Int

    /// - Throws: ``TrainingError/invalidOption(option:reason:)`` naming the setting to change and the valid values.
    public init(globalBatchSize: Int, microBatchSize: Int, dataParallelSize: Int = 1) throws {
        try TrainingError.requireAtLeastOne(globalBatchSize, option: TrainingSetting.globalBatchSize.name)
        try TrainingError.requireAtLeastOne(microBatchSize, option: LayoutParameter.microBatchSize.name)
        try TrainingError.requireAtLeastOne(dataParallelSize, option: LayoutParameter.dp.name)
        guard globalBatchSize % (microBatchSize * dataParallelSize) == 0 else {
            let perRank = globalBatchSize % dataParallelSize == 0 ? globalBatchSize / dataParallelSize : nil
            let choices = perRank.map { n in (1...n).filter { n % $0 == 0 }.map(String.init).joined(separator: ", ") }
            let reason: SettingText = dataParallelSize == 1
                ? "global batch size \(globalBatchSize) is not divisible by micro-batch size \(microBatchSize)"
                : "global batch size \(globalBatchSize) is not divisible by micro-batch size \(microBatchSize) × dp \(dataParallelSize)"
            let fix: SettingText = choices.map { "; use \(name: LayoutParameter.microBatchSize) ∈ {\($0)}" }
                ?? "; use a \(name: TrainingSetting.globalBatchSize) that is a multiple of \(microBatchSize * dataParallelSize)"
            throw TrainingError.invalidOption(
                option: perRank == nil ? TrainingSetting.globalBatchSize.name : LayoutParameter.microBatchSize.name, reason: reason + fix)
        }
        self.globalBatchSize = globalBatchSize
        self.microBatchSize = microBatchSize
        self.dataParallelSize = dataParallelSize
    }

    /// Micro-batches each data-parallel rank runs per step (the gradient-accumulation count).
    public var microBatchesPerRank: Int { globalBatchSize / (microBatchSize * dataParallelSize) }

    /// The global-batch sequence indices of micro-batch `microBatch` on data-parallel rank `dataRank`.
    public func sequences(microBatch: Int, dataRank: Int = 0) -> Range<Int> {
        precondition((0..<microBatchesPerRank).contains(microBatch) && (0..<dataParallelSize).contains(dataRank),
                     "micro-batch \(microBatch) of rank \(dataRank) out of range")
        let first = dataRank * (globalBatchSize / dataParallelSize) + microBatch * microBatchSize
        return first..<first + microBatchSize
    }
}
