import ArgumentParser
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// The flags `tessera eval` and `tessera generate` share: the model, its tensor- and pipeline-parallel split and the launch.
struct ModelArguments: ParsableArguments {
    @Option(help: "A Hugging Face directory (config.json + model.safetensors + tokenizer files) or a .gguf file.")
    var model: String

    @Option(help: "Tensor-parallel ranks the model is split over.")
    var tp = 1

    @Option(help: "Pipeline stages the model is split over (each stage passes its hidden states on).")
    var pp = 1

    @Option(help: "Context-parallel ranks (evaluation only): each holds a zig-zag share of every window's tokens.")
    var cp = 1

    @Option(name: .customLong("cp-comm"), help: "Context-parallel attention: ring, allgather or a2a (Ulysses; cp must divide the heads).")
    var cpComm = ContextCommunication.ring.rawValue

    @OptionGroup(title: "Launch") var launch: LaunchArguments

    /// The layout `--tp`, `--pp` and `--cp` ask for.
    var parallel: ParallelConfig {
        get throws {
            var parallel = try ParallelConfig(pp: pp, tp: tp, cp: cp)
            parallel.contextCommunication = try ContextCommunication(named: cpComm)
            return parallel
        }
    }

    /// Recognizes the model and checks that it splits over `--tp` and `--pp` before any rank starts.
    func location() throws -> ModelLocation {
        let location = try ModelLocation(path: model)
        try parallel.validate(model: location.config())
        return location
    }

    /// Runs `body` on the `--tp` ranks with this rank's engine (weights from the model, split over tp).
    func run(_ location: ModelLocation, _ body: @escaping @Sendable (MeshEngine, any Communicator) throws -> Void) throws {
        let parallel = try self.parallel
        _ = try launch.launcher().run(launch.options(ranks: parallel.ranks)) { world, computeThreads in
            let groups = try Trainer.processGroups(parallel, world: world)
            try body(try location.makeEngine(parallel: parallel, groups: groups, computeThreads: computeThreads), world)
        }
    }
}
