import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// The training loop on the `tiny` preset: it learns, gradient accumulation and tensor parallelism change
/// nothing but speed, and bad options are refused before any work.
@Suite(.serialized) struct TrainerTests {
    /// A repetitive byte stream a tiny model learns within a few steps.
    static let ids: [Int32] = Array(String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 20).utf8.map { Int32($0) })

    static func configuration(micro: Int = 4, tp: Int = 1, sequenceParallel: Bool = false, steps: Int = 4) throws -> TrainingConfiguration {
        TrainingConfiguration(
            model: .init(config: "tiny"), data: .init(path: "fox.txt", sequenceLength: 16),
            batch: .init(globalBatchSize: 4),
            optimizer: .init(learningRate: 1e-2, minLearningRate: 1e-3, warmupSteps: 1),
            parallelism: try ParallelConfig(tp: tp, sequenceParallel: sequenceParallel, microBatchSize: micro), steps: steps, seed: 3)
    }

    /// Losses of a run on `ranks` threads (rank 0's figures; every rank reports the same).
    static func losses(_ configuration: TrainingConfiguration) throws -> [Double] {
        let config = try TransformerConfig.preset(named: configuration.model.config)
        let data = try TrainingData(path: configuration.data.path, ids: ids, sequenceLength: configuration.data.sequenceLength,
                                    globalBatchSize: configuration.batch.globalBatchSize,
                                    vocabularySize: config.vocabularySize, tokenizerName: "byte")
        let perRank = try ThreadGroup.run(ranks: configuration.parallelism.ranks) { world in
            let engine = try Trainer.makeEngine(configuration: configuration, config: config, world: world)
            let trainer = try Trainer(configuration: configuration, engine: engine, data: data)
            return try (1...configuration.steps).map { try trainer.step($0).loss }
        }
        for other in perRank.dropFirst() { #expect(other == perRank[0], "ranks disagree on the loss") }
        return perRank[0]
    }

    @Test func theLossFalls() throws {
        let losses = try Self.losses(try Self.configuration(steps: 6))
        #expect(abs(losses[0] - log(256)) < 0.3, "a fresh model predicts about uniformly: \(losses[0])")
        #expect(losses.last! < losses[0] - 0.5, "\(losses)")
    }

    @Test func gradientAccumulationMatchesTheWholeBatch() throws {
        let whole = try Self.losses(try Self.configuration(micro: 4))
        for micro in [1, 2] {
            let accumulated = try Self.losses(try Self.configuration(micro: micro))
            for (a, b) in zip(accumulated, whole) { #expect(abs(a - b) <= 1e-5 * b, "micro-batch \(micro): \(a) vs \(b)") }
        }
        // Not vacuous: another data order (a different seed changes the initialization) moves the losses.
        var other = try Self.configuration()
        other.seed = 4
        #expect(try Self.losses(other)[1] != whole[1])
    }

    @Test func tensorParallelRunsMatchOneDevice() throws {
        let single = try Self.losses(try Self.configuration())
        for (tp, sp) in [(2, false), (2, true)] {
            let split = try Self.losses(try Self.configuration(tp: tp, sequenceParallel: sp))
            for (a, b) in zip(split, single) { #expect(abs(a - b) <= 1e-5 * b, "tp=\(tp) sp=\(sp): \(a) vs \(b)") }
        }
    }

    @Test func theScheduleWarmsUpAndDecays() throws {
        let config = try TransformerConfig.preset(named: "tiny")
        let configuration = try Self.configuration(steps: 4)
        let data = try TrainingData(path: "fox.txt", ids: Self.ids, sequenceLength: 16, globalBatchSize: 4, vocabularySize: 256,
                                    tokenizerName: "byte")
        let trainer = try Trainer(configuration: configuration, engine: try Trainer.makeEngine(configuration: configuration, config: config, world: nil),
                                  data: data)
        let rates = try (1...4).map { try trainer.step($0).learningRate }
        #expect(abs(rates[0] - 1e-2) < 1e-9)  // one warm-up step reaches the peak
        #expect(abs(rates[3] - 1e-3) < 1e-9)  // the last step runs at the floor
        #expect(rates[1] < rates[0] && rates[2] < rates[1])
    }

    @Test func badOptionsAreRefusedWithTheFlagToChange() throws {
        let config = try TransformerConfig.preset(named: "tiny")  // context 64
        var long = try Self.configuration()
        long.data.sequenceLength = 128
        let data = try TrainingData(path: "fox.txt", ids: Self.ids, sequenceLength: 128, globalBatchSize: 4, vocabularySize: 256,
                                    tokenizerName: "byte")
        let engine = try Trainer.makeEngine(configuration: try Self.configuration(), config: config, world: nil)
        #expect(throws: TrainingError.invalidOption(option: TrainingSetting.sequenceLength.name, reason: "128 exceeds the model's context of 64 tokens; use \(name: .sequenceLength) ≤ 64")) {
            try Trainer(configuration: long, engine: engine, data: data)
        }
        var bad = try Self.configuration()
        bad.optimizer.minLearningRate = 1
        #expect(throws: TrainingError.self) { try bad.validate() }
        bad = try Self.configuration()
        bad.parallelism.sequenceParallel = true
        #expect(throws: ParallelConfigError.sequenceParallelNeedsTensorParallel) {
            try bad.validate()
        }
        // tiny has 4 heads: tp=5 would leave a rank without one, and the error lists the choices.
        #expect {
            try ThreadGroup.run(ranks: 5) { world in
                _ = try Trainer.makeEngine(configuration: try Self.configuration(tp: 5), config: config, world: world)
            }
        } throws: { error in "\(error)".contains("use tp ∈ {1, 2, 3, 4}") }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
