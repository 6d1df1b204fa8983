import ArgumentParser
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// The flags `tessera eval`, `tessera generate` and `tessera serve` share: the model, its split over tp, pp, cp and ep,
/// and the launch.
struct ModelArguments: ParsableArguments {
    @Option(help: "A Hugging Face directory (config.json + model.safetensors + tokenizer files) or a .gguf file.")
    var model: String

    @Option(help: "Tensor-parallel ranks the model is split over.")
    var tp = 1

    @Option(help: "Pipeline stages the model is split over (each stage passes its hidden states on).")
    var pp = 1

    @Option(help: "Context-parallel ranks (evaluation only): each holds a zig-zag share of every window's tokens.")
    var cp = 1

    @Option(help: "Expert-parallel ranks (mixture-of-experts models): each holds experts / ep of every layer's experts and the rest of the model whole, and tokens reach their experts by all-to-all.")
    var ep = 1

    @Option(name: .customLong("expert-tp"), help: "Mixture-of-experts experts with tp: 1 keeps each expert whole on every tp rank, tp splits its features over tp.")
    var expertTP = "1"

    @Option(name: .customLong("cp-comm"), help: "Context-parallel attention: ring, allgather or a2a (Ulysses; cp must divide the heads).")
    var cpComm = ContextCommunication.ring.rawValue

    @Flag(help: "Dequantize a GGUF file's weights to Float32 at load (the exact Float32 path; about 4 bytes per parameter) instead of computing on them as stored.")
    var dequantize = false

    @OptionGroup(title: "Launch") var launch: LaunchArguments

    /// The layout `--tp`, `--pp`, `--cp` and `--ep` ask for: the ep ranks are data-parallel replicas of everything
    /// but the experts, each running the same tokens.
    var parallel: ParallelConfig {
        get throws {
            var parallel = try ParallelConfig(dp: ep, pp: pp, tp: tp, cp: cp, ep: ep)
            parallel.contextCommunication = try ContextCommunication(named: cpComm)
            parallel.expertTensorParallelism = try ExpertTensorParallelism(named: expertTP)
            return parallel
        }
    }

    /// Recognizes the model and checks that it splits over the layout before any rank starts.
    func location() throws -> ModelLocation {
        let location = try ModelLocation(path: model)
        try parallel.validate(model: location.config())
        return location
    }

    /// Runs `body` on every rank of the layout with this rank's engine (weights from the model, split over it).
    func run(_ location: ModelLocation, _ body: @escaping @Sendable (MeshEngine, any Communicator) throws -> Void) throws {
        let parallel = try self.parallel
        _ = try launch.launcher().run(launch.options(ranks: parallel.ranks)) { world, computeThreads in
            let groups = try Trainer.processGroups(parallel, world: world)
            let engine = try location.makeEngine(parallel: parallel, groups: groups, computeThreads: computeThreads,
                                                 weights: dequantize ? .float32 : .stored)
            try body(engine, world)
        }
    }
}
