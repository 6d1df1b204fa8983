import Foundation
import TesseraCollectives
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// `tessera bench cp --attention-only`: one layer's attention core alone (`softmax(q·kᵀ/√d)·v` over rotated q, k, v,
/// forward then backward; no projections), on `cp` thread ranks of one thread each against the same core on one
/// rank and one thread over the whole sequences.
///
/// The zig-zag split gives every rank the same share of the causal work, so the ideal context-parallel time is the
/// single rank's divided by cp, and ``Row/efficiency`` is `single / (cp · parallel)` (#19's target: ≥ 0.85). The
/// ring's transfers are what can push it below 1: the time rank 0 waits in communication is reported beside it.
public enum ContextAttentionBench {
    /// One attention at one sequence length.
    public struct Row: Sendable {
        public var sequenceLength: Int
        public var communication: ContextCommunication
        /// Median seconds of one forward + backward on one rank over the whole sequences.
        public var singleSeconds: Double
        /// Median seconds of one forward + backward on the cp ranks (the slowest rank of each repetition).
        public var parallelSeconds: Double
        /// Median seconds rank 0 spent inside communication per repetition.
        public var communicationSeconds: Double
        /// The ideal (`singleSeconds / cp`) over the measured time.
        public var efficiency: Double
    }

    /// Times the core of `model`'s attention (its heads, key/value heads and head size; no tensor parallelism) on
    /// `batch` sequences of each length: once on one rank, then on `cp` ranks with each of `communications`
    /// (Ulysses only where cp divides the heads).
    public static func measure(_ model: TransformerConfig, sequenceLengths: [Int], cp: Int, communications: [ContextCommunication],
                               batch: Int, repeats: Int, progress: @escaping @Sendable (String) -> Void) throws -> [Row] {
        BLASThreads.set(1)
        var rows: [Row] = []
        for length in sequenceLengths {
            progress("T=\(length): attention core on one rank…")
            let single = try time(model, length: length, ranks: 1, communication: .ring, batch: batch, repeats: repeats)
            for communication in communications {
                var parallel = try ParallelConfig(cp: cp, microBatchSize: batch)
                parallel.contextCommunication = communication
                guard (try? parallel.validateContextParallel(model: model)) != nil else { continue }
                progress("T=\(length): attention core on cp=\(cp) \(communication)…")
                let split = try time(model, length: length, ranks: cp, communication: communication, batch: batch, repeats: repeats)
                rows.append(Row(sequenceLength: length, communication: communication, singleSeconds: single.seconds,
                                parallelSeconds: split.seconds, communicationSeconds: split.communication,
                                efficiency: single.seconds / (Double(cp) * split.seconds)))
            }
        }
        return rows
    }

    /// Median seconds of forward + backward on `ranks` thread ranks (the slowest rank of each repetition), and rank
    /// 0's median communication seconds.
    static func time(_ model: TransformerConfig, length: Int, ranks: Int, communication: ContextCommunication, batch: Int,
                     repeats: Int) throws -> (seconds: Double, communication: Double) {
        let samples = try ThreadGroup.run(ranks: ranks) { world -> [(Double, Double)] in
            let meter = CommunicationMeter()
            var context = LayerContext(tensor: nil, context: ranks > 1 ? MeteredCommunicator(world, meter: meter) : nil,
                                       backend: CPUBackend(pool: ComputePool(threads: 1)))
            context.contextCommunication = communication
            let attention = try layer(model, context: context)
            let state = ParallelAttention.State()
            if ranks > 1 { state.shard = try ContextShard(length: length, ranks: ranks, rank: world.rank) }
            let rows = batch * (state.shard?.localLength ?? length), a = model.attention
            let localLength = rows / batch
            state.qkv.reserve(rows * (a.heads + 2 * a.kvHeads) * a.headDim)
            DeterministicRandom(seed: 3, stream: "qkv\(world.rank)").fillNormal(state.qkv.mutableElements, indices: 0..<state.qkv.count)
            let dOut = FloatBuffer(count: rows * a.heads * a.headDim)
            DeterministicRandom(seed: 3, stream: "dout\(world.rank)").fillNormal(dOut.mutableElements, indices: 0..<dOut.count)
            var samples: [(Double, Double)] = []
            for repetition in 0...repeats {
                try world.barrier()
                let before = meter.seconds, start = DispatchTime.now().uptimeNanoseconds
                try attention.computeCore(batch: batch, length: localLength, state: state)
                try attention.backwardCore(dOut.pointer, batch: batch, length: localLength, state: state)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if repetition > 0 { samples.append((seconds, meter.seconds - before)) }
            }
            return samples
        }
        let slowest = (0..<repeats).map { i in samples.map { $0[i].0 }.max()! }
        return (BenchStatistics.median(slowest), BenchStatistics.median(samples[0].map(\.1)))
    }

    /// An attention layer of `model`'s shape on `context` (the projections exist only because the layer owns them;
    /// the core never reads them).
    private static func layer(_ model: TransformerConfig, context: LayerContext) throws -> ParallelAttention {
        let a = model.attention, h = model.hiddenSize, width = (a.heads + 2 * a.kvHeads) * a.headDim
        let store = ParameterStore(specs: [
            ParameterSpec(name: "qkv", globalShape: [width, h], initialization: .normal(std: 0.02)),
            ParameterSpec(name: "out", globalShape: [h, a.heads * a.headDim], initialization: .normal(std: 0.02)),
        ], seed: 1)
        let projection = ColumnParallelLinear(parts: [.init(weight: store["qkv"]!, bias: nil, layout: .outputMajor, inFeatures: h)],
                                              context: context)
        let output = RowParallelLinear(weight: store["out"]!, bias: nil, layout: .outputMajor, context: context)
        return ParallelAttention(projection: projection, output: output, heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim,
                                 rotary: nil, context: context)
    }
}

extension ContextAttentionBench {
    /// The table `tessera bench cp --attention-only` prints.
    public static func lines(_ rows: [Row], configName: String, cp: Int, batch: Int, repeats: Int) -> [String] {
        let fixed = BenchText.fixed
        return [
            "Context-parallel attention core alone (forward + backward, no projections): \(configName), \(batch) sequence(s), fp32",
            "Machine: \(TrainingBenchmark.machine). Median of \(repeats) repetitions; cp=\(cp) ranks × 1 thread against 1 rank × 1 thread.",
            "",
            "| T | attention | 1 rank s | cp ranks s | ideal s (1 rank / cp) | of ideal | communication s (rank 0) |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ] + rows.map { row in
            "| \(row.sequenceLength) | \(row.communication) | \(fixed(row.singleSeconds, 3)) | \(fixed(row.parallelSeconds, 3))"
                + " | \(fixed(row.singleSeconds / Double(cp), 3)) | \(fixed(100 * row.efficiency, 1))% | \(fixed(row.communicationSeconds, 3)) |"
        }
    }

    /// The JSON `tessera bench cp --attention-only --json` writes.
    public static func json(_ rows: [Row], configName: String, cp: Int, batch: Int, repeats: Int) -> [String: Any] {
        [
            "benchmark": "cp-attention", "machine": TrainingBenchmark.machine, "config": configName, "cp": cp, "batch": batch,
            "repeats": repeats,
            "rows": rows.map { row -> [String: Any] in
                ["seq_len": row.sequenceLength, "communication": row.communication.rawValue, "single_seconds": row.singleSeconds,
                 "parallel_seconds": row.parallelSeconds, "communication_seconds": row.communicationSeconds,
                 "efficiency": row.efficiency]
            },
        ]
    }
}
