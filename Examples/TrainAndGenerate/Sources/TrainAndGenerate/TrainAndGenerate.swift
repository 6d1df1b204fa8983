import Foundation
import Tessera

/// Trains the `tiny` preset (a two-layer Llama, 4 heads over 2 key/value heads) for 150 steps (about a second)
/// with its layers split over tp = 2 ranks running as threads of this process, saves it, loads it back on tp = 2
/// and continues a prompt greedily. Prints every 25th step's loss and the continuation; exits non-zero unless
/// the loss fell.
///
/// Everything goes through the library's public surface: a ``TrainingJob`` from a ``TrainingConfiguration``, a
/// ``ThreadLauncher`` to start the ranks, a ``Trainer`` per rank, a saved Hugging Face directory, and a
/// ``Generator`` on an engine built from it. A program started by `mpirun` would add the `TesseraMPI` product and
/// pass `MPILauncher()` instead; nothing else changes.
@main
struct TrainAndGenerate {
    static let steps = 150
    static let tp = 2

    static func main() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-train-and-generate-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let losses = try train(in: directory)
        let text = try generate(from: directory + "/model", prompt: "a tile ")
        print("generated: \"a tile \(text)\"")
        guard let first = losses.first, let last = losses.last, last < first else {
            print("error: the loss did not fall over \(steps) steps (\(losses))")
            exit(1)
        }
    }

    /// Trains on a small text and saves the model to `directory/model`; returns the losses, one per step.
    nonisolated static func train(in directory: String) throws -> [Double] {
        let corpus = directory + "/corpus.txt"
        try String(repeating: Self.text, count: 40).write(toFile: corpus, atomically: true, encoding: .utf8)
        let configuration = TrainingConfiguration(
            model: .init(config: "tiny"),
            data: .init(path: corpus, tokenizer: "byte", sequenceLength: 32),
            batch: .init(globalBatchSize: 4),
            optimizer: .init(learningRate: 1e-2, minLearningRate: 1e-3),
            parallelism: try ParallelConfig(tp: tp),
            steps: steps, seed: 1)
        let job = try TrainingJob(configuration: configuration)
        let model = directory + "/model"
        let perRank = try ThreadLauncher().run(LaunchOptions(ranks: job.ranks)) { world, computeThreads in
            let trainer = try job.makeTrainer(world: world, computeThreads: computeThreads)
            var losses: [Double] = []
            for step in 1...configuration.steps {
                let metrics = try trainer.step(step)
                if world.rank == 0 && (step == 1 || step % 25 == 0) {
                    print("step \(step): loss \(String(format: "%.4f", metrics.loss))")
                }
                losses.append(metrics.loss)
            }
            try job.save(trainer.engine, toDirectory: model, world: world)
            return losses
        }
        return perRank[0]
    }

    /// Up to 24 greedy tokens after `prompt` from the model saved at `path`, split over tp = 2 again.
    nonisolated static func generate(from path: String, prompt: String) throws -> String {
        let location = try ModelLocation(path: path)
        let tokenizer = try location.tokenizer().tokenizer
        let ids = try tokenizer.encode(prompt)
        let parallel = try ParallelConfig(tp: tp)
        let perRank = try ThreadLauncher().run(LaunchOptions(ranks: parallel.ranks)) { world, computeThreads in
            let groups = try Trainer.processGroups(parallel, world: world)
            let engine = try location.makeEngine(parallel: parallel, groups: groups, computeThreads: computeThreads)
            return try Generator(engine: engine, sampling: SamplingOptions()).generate(prompt: ids, maxNewTokens: 24)
        }
        let bytes = try tokenizer.decodeBytes(perRank[0], skippingSpecialTokens: true)
        return String(decoding: bytes, as: UTF8.self)
    }

    static let text = """
        a tile is set beside a tile, and the mosaic grows one small square at a time.
        each rank holds a slice of the picture, and together they hold all of it.

        """
}
