import ArgumentParser
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// The flags `tessera eval` and `tessera generate` share: the model, its tensor-parallel split and the launch.
struct ModelArguments: ParsableArguments {
    @Option(help: "A Hugging Face directory (config.json + model.safetensors + tokenizer files) or a .gguf file.")
    var model: String

    @Option(help: "Tensor-parallel ranks the model is split over.")
    var tp = 1

    @OptionGroup(title: "Launch") var launch: LaunchArguments

    /// Recognizes the model and checks that it splits over `--tp` before any rank starts.
    func location() throws -> ModelLocation {
        let location = try ModelLocation(path: model)
        try location.config().validate(tp: tp)
        return location
    }

    /// Runs `body` on the `--tp` ranks with this rank's engine (weights from the model, split over tp).
    func run(_ location: ModelLocation, _ body: @escaping @Sendable (TransformerEngine, any Communicator) throws -> Void) throws {
        let tp = self.tp
        _ = try launch.launcher().run(launch.options(ranks: tp)) { world, computeThreads in
            let groups = try Trainer.processGroups(ParallelConfig(tp: tp), world: world)
            try body(try location.makeEngine(groups: groups, computeThreads: computeThreads), world)
        }
    }
}
