import ArgumentParser
import Foundation
import TesseraNN
import TesseraParallel
import TesseraPipeline
import TesseraTrain

extension LearningRateSchedule.Kind: ExpressibleByArgument {}
extension Recomputation: ExpressibleByArgument {}

/// The flags of `tessera train`, one group per part of ``TrainingConfiguration``; each group writes its part.
/// New options (pipeline and data parallelism, ZeRO, recomputation, traces) go into the group they belong to.
struct TrainModelOptions: ParsableArguments {
    @Option(help: "Model preset (tiny, tiny-gpt2, tiny-moe, small-moe, small-qwen-moe, demo, gpt2-small, smollm2-135m) or a config.json / model directory, initialized from --seed.")
    var config = "demo"

    @Option(name: .customLong("init"), help: "Start from this checkpoint (a Hugging Face directory or a .gguf file); its architecture and tokenizer win.")
    var initialCheckpoint: String?

    func apply(to c: inout TrainingConfiguration) {
        c.model = .init(config: config, initialCheckpoint: initialCheckpoint)
    }
}

struct TrainDataOptions: ParsableArguments {
    @Option(help: "A UTF-8 text file to train on (tokenized once; the ids are cached beside it).")
    var data: String

    @Option(help: "byte, gpt2 (data/gpt2 from `make assets`), or a tokenizer.json, tokenizer directory or .gguf file.")
    var tokenizer = TrainingConfiguration.Data.defaultTokenizer

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence (T).")
    var sequenceLength = 128

    @Option(name: .customLong("cache-dir"), help: "Keep token-id caches here instead of beside the text.")
    var cacheDirectory: String?

    func apply(to c: inout TrainingConfiguration) {
        c.data = .init(path: data, tokenizer: tokenizer, sequenceLength: sequenceLength, cacheDirectory: cacheDirectory)
    }
}

struct TrainBatchOptions: ParsableArguments {
    @Option(name: .customLong("global-batch-size"), help: "Sequences per optimizer step over all ranks (G).")
    var globalBatchSize = 8

    @Option(help: "Optimizer steps.")
    var steps = 100

    @Option(help: "Seed of the initialization (values depend only on seed, parameter name and element index).")
    var seed: UInt64 = 0

    func apply(to c: inout TrainingConfiguration) {
        c.batch = .init(globalBatchSize: globalBatchSize)
        c.steps = steps
        c.seed = seed
    }
}

struct TrainOptimizerOptions: ParsableArguments {
    @Option(help: "Peak learning rate.")
    var lr: Float = 1e-3

    @Option(name: .customLong("min-lr"), help: "The floor a cosine schedule decays to. Default: --lr / 10.")
    var minLR: Float?

    @Option(name: .customLong("warmup-steps"), help: "Steps of linear warm-up.")
    var warmupSteps = 0

    @Option(name: .customLong("lr-schedule"), help: "constant or cosine (after the warm-up).")
    var schedule: LearningRateSchedule.Kind = .cosine

    @Option(name: .customLong("weight-decay"), help: "Decoupled AdamW weight decay (on parameters with two or more dimensions).")
    var weightDecay: Float = 0.1

    @Option(help: "AdamW β₁.")
    var beta1: Float = 0.9

    @Option(help: "AdamW β₂.")
    var beta2: Float = 0.95

    @Option(help: "AdamW ε (added after the square root).")
    var eps: Float = 1e-8

    @Option(name: .customLong("grad-clip"), help: "Clip the global gradient norm to this; 0 turns clipping off.")
    var gradientClip: Float = 1.0

    func apply(to c: inout TrainingConfiguration) {
        c.optimizer = .init(learningRate: lr, minLearningRate: minLR ?? lr / 10, warmupSteps: warmupSteps, schedule: schedule,
                            adamW: AdamWConfiguration(beta1: beta1, beta2: beta2, epsilon: eps, weightDecay: weightDecay),
                            gradientClip: gradientClip)
    }
}

struct TrainParallelOptions: ParsableArguments {
    @Option(help: "Data-parallel replicas (each takes G/dp consecutive sequences of the global batch).")
    var dp = 1

    @Option(help: "Pipeline stages.")
    var pp = 1

    @Option(help: "Tensor-parallel ranks.")
    var tp = 1

    @Option(help: "Expert-parallel ranks of a mixture-of-experts model, carved out of dp (they add no ranks): each holds 1/ep of every layer's experts.")
    var ep = 1

    @Option(name: .customLong("expert-tp"), help: "Mixture-of-experts experts with tp: 1 keeps each expert whole on every tp rank, tp splits its features over tp.")
    var expertTP = "1"

    @Flag(name: .customLong("sequence-parallel"), help: "Megatron sequence parallelism inside the tensor-parallel group.")
    var sequenceParallel = false

    @Option(help: "Context-parallel ranks: each holds a zig-zag share of every sequence's tokens through the whole model.")
    var cp = 1

    @Option(name: .customLong("cp-comm"), help: "Context-parallel attention: ring, allgather or a2a (Ulysses; cp must divide the heads).")
    var cpComm = ContextCommunication.ring.rawValue

    @Option(help: "Pipeline schedule: gpipe, 1f1b, interleaved or zb-h1.")
    var schedule: PipelineScheduleKind = .oneForwardOneBackward

    @Option(name: .customLong("virtual-stages"), help: "Model chunks per stage (interleaved schedule).")
    var virtualStages = 1

    @Option(name: .customLong("pipeline-layout"), help: "Layers per model chunk, e.g. 5,6,6,5 (default: balanced by cost).")
    var pipelineLayout: String?

    @Option(name: .customLong("micro-batch-size"), help: "Sequences per forward/backward pass (b); each pipeline runs G/(dp·b) micro-batches per step. Default: G/dp.")
    var microBatchSize: Int?

    @Option(help: "Activation recomputation: none, selective (the attention core) or full (each layer from its input).")
    var recompute: Recomputation = .none

    @Option(name: .customLong("zero-stage"), help: "0: every data-parallel rank keeps the whole AdamW state; 1: the moments and the update are sharded over dp.")
    var zeroStage = 0

    @Option(help: "Ranks to start on the threads backend (default: dp·cp·pp·tp; under mpirun the job size counts).")
    var ranks: Int?

    /// - Throws: ``ParallelConfigError`` for an invalid layout, naming the valid choices.
    func apply(to c: inout TrainingConfiguration) throws {
        let layout = try pipelineLayout.map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map { field in
                guard let count = Int(field.trimmingCharacters(in: .whitespaces)) else {
                    throw ParallelConfigError.invalidOption(option: LayoutParameter.pipelineLayout.name, value: text,
                                                            valid: "a comma-separated list of layer counts, one per stage (e.g. 5,6,6,5)")
                }
                return count
            }
        }
        c.parallelism = try ParallelConfig(
            dp: dp, pp: pp, tp: tp, cp: cp, ep: ep, sequenceParallel: sequenceParallel,
            microBatchSize: microBatchSize ?? max(1, c.batch.globalBatchSize / max(1, dp)),
            pipeline: .init(schedule: schedule, virtualStages: virtualStages, layout: layout),
            memory: .init(recompute: recompute, zeroStage: zeroStage))
        c.parallelism.contextCommunication = try ContextCommunication(named: cpComm)
        c.parallelism.expertTensorParallelism = try ExpertTensorParallelism(named: expertTP)
    }

    /// The ranks to launch: the layout's product, which `--ranks`, when given, must equal.
    func launchRanks(for c: TrainingConfiguration) throws -> Int {
        if let ranks { try c.parallelism.validate(ranks: ranks) }
        return c.parallelism.ranks
    }
}

struct TrainOutputOptions: ParsableArguments {
    @Option(help: "Save the trained model here as a Hugging Face directory (config.json, model.safetensors, tokenizer files).")
    var save: String?

    @Option(help: "Write one JSON object per optimizer step to this file (JSON lines).")
    var metrics: String?

    @Option(help: "Write every stage's forward, backward and communication spans as a Chrome/Perfetto trace (draw it with `tessera pipeline draw`).")
    var trace: String?

    func apply(to c: inout TrainingConfiguration) {
        c.output = .init(saveDirectory: save, metricsPath: metrics, tracePath: trace)
    }
}
