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

    @OptionGroup(title: "Launch") var launch: LaunchArguments

    /// The layout `--tp` and `--pp` ask for.
    var parallel: ParallelConfig {
        get throws { try ParallelConfig(pp: pp, tp: tp) }
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
