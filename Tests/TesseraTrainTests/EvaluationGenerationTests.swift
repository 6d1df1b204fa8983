import Foundation
import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

@Suite(.serialized) struct EvaluationGenerationTests {
    static let text = String(repeating: "abcdefgh", count: 40)
    static let ids: [Int32] = text.utf8.map { Int32($0) }

    /// A tiny model trained briefly on `text` (its repetition is easy to learn).
    static func trainedEngine(world: (any Communicator)? = nil, tp: Int = 1, steps: Int = 30) throws -> MeshEngine {
        let configuration = TrainingConfiguration(
            model: .init(config: "tiny"), data: .init(path: "abc.txt", sequenceLength: 16), batch: .init(globalBatchSize: 4),
            optimizer: .init(learningRate: 1e-2, minLearningRate: 1e-2, schedule: .constant),
            parallelism: try ParallelConfig(tp: tp, microBatchSize: 4), steps: steps, seed: 5)
        let config = try TransformerConfig.preset(named: "tiny")
        let engine = try Trainer.makeEngine(configuration: configuration, config: config, world: world)
        let data = try TrainingData(path: "abc.txt", ids: ids, sequenceLength: 16, globalBatchSize: 4, vocabularySize: 256,
                                    tokenizerName: "byte")
        try Trainer(configuration: configuration, engine: engine, data: data).run()
        return try engine.inferenceEngine()
    }

    @Test func windowsScoreEveryTargetOnce() {
        #expect(Evaluation.windows(tokenCount: 10, sequenceLength: 4) == [0..<4, 4..<8, 8..<9])
        #expect(Evaluation.windows(tokenCount: 5, sequenceLength: 8) == [0..<4])
        #expect(Evaluation.windows(tokenCount: 9, sequenceLength: 4) == [0..<4, 4..<8])
        #expect(Evaluation.windows(tokenCount: 1, sequenceLength: 4).isEmpty)
    }

    @Test func evaluationMatchesOneForwardPassAndIgnoresBatching() throws {
        let engine = try Self.trainedEngine(steps: 2)
        let short = Array(Self.ids.prefix(20))
        let result = try Evaluation.evaluate(engine, ids: short, sequenceLength: 64, path: "abc.txt", tokenizerName: "byte")
        let direct = try engine.evaluate(MicroBatch(tokens: Array(short.dropLast()), targets: Array(short.dropFirst()), batch: 1, length: 19))
        #expect(result.tokens == 19)
        #expect(abs(result.loss - direct.lossSum / 19) < 1e-9)
        #expect(abs(result.perplexity - exp(result.loss)) < 1e-9)
        let one = try Evaluation.evaluate(engine, ids: Self.ids, sequenceLength: 16, batchSize: 1, path: "abc.txt", tokenizerName: "byte")
        let many = try Evaluation.evaluate(engine, ids: Self.ids, sequenceLength: 16, batchSize: 8, path: "abc.txt", tokenizerName: "byte")
        #expect(one.tokens == Self.ids.count - 1 && many.tokens == one.tokens)
        #expect(abs(one.loss - many.loss) <= 1e-5 * one.loss)
    }

    @Test func evaluationRefusesBadInput() throws {
        let engine = try Self.trainedEngine(steps: 1)
        #expect(throws: TrainingError.self) {
            try Evaluation.evaluate(engine, ids: [1], sequenceLength: 16, path: "one.txt", tokenizerName: "byte")
        }
        #expect(throws: TrainingError.invalidOption(option: TrainingSetting.evaluationWindow.name, reason: "65 must lie in 1...64 (the model's context)")) {
            try Evaluation.evaluate(engine, ids: Self.ids, sequenceLength: 65, path: "abc.txt", tokenizerName: "byte")
        }
        #expect(throws: TrainingError.tokenOutOfRange(path: "big.txt", id: 300, position: 1, vocabularySize: 256, tokenizer: "gpt2")) {
            try Evaluation.evaluate(engine, ids: [1, 300, 2], sequenceLength: 16, path: "big.txt", tokenizerName: "gpt2")
        }
    }

    @Test func trainingLowersTheEvaluatedLossAndGreedyDecodingContinuesThePattern() throws {
        let fresh = try Self.trainedEngine(steps: 1)
        let trained = try Self.trainedEngine(steps: 40)
        let before = try Evaluation.evaluate(fresh, ids: Self.ids, sequenceLength: 32, path: "abc.txt", tokenizerName: "byte")
        let after = try Evaluation.evaluate(trained, ids: Self.ids, sequenceLength: 32, path: "abc.txt", tokenizerName: "byte")
        #expect(after.loss < before.loss / 4, "\(before.loss) → \(after.loss)")
        let generator = try Generator(engine: trained, sampling: SamplingOptions(temperature: 0))
        let continuation = try generator.generate(prompt: Array("abcdefghabc".utf8.map { Int32($0) }), maxNewTokens: 10)
        #expect(String(decoding: continuation.map { UInt8($0) }, as: UTF8.self) == "defghabcde")
    }

    @Test func generationStopsAtAStopTokenAndIsDeterministicForASeed() throws {
        let engine = try Self.trainedEngine(steps: 40)
        let prompt = Array("abcd".utf8.map { Int32($0) })
        let greedy = try Generator(engine: engine, sampling: SamplingOptions())
        let stopped = try greedy.generate(prompt: prompt, maxNewTokens: 10, stopTokens: [Int32(UInt8(ascii: "g"))])
        #expect(stopped.map { UInt8($0) } == Array("efg".utf8))
        let sampling = SamplingOptions(temperature: 1.5, topK: 50, seed: 11)
        let a = try Generator(engine: engine, sampling: sampling).generate(prompt: prompt, maxNewTokens: 12)
        let b = try Generator(engine: engine, sampling: sampling).generate(prompt: prompt, maxNewTokens: 12)
        #expect(a == b)
        #expect(throws: TrainingError.self) { try greedy.generate(prompt: [], maxNewTokens: 3) }
    }

    @Test func tensorParallelEvaluationAndGenerationMatchOneDevice() throws {
        let single = try Self.trainedEngine(steps: 10)
        let reference = try Evaluation.evaluate(single, ids: Self.ids, sequenceLength: 32, path: "abc.txt", tokenizerName: "byte")
        let sampling = SamplingOptions(temperature: 1, seed: 3)
        let prompt = Array("abc".utf8.map { Int32($0) })
        let expected = try Generator(engine: single, sampling: sampling).generate(prompt: prompt, maxNewTokens: 8)
        let results = try ThreadGroup.run(ranks: 2) { world in
            let engine = try Self.trainedEngine(world: world, tp: 2, steps: 10)
            let result = try Evaluation.evaluate(engine, ids: Self.ids, sequenceLength: 32, path: "abc.txt", tokenizerName: "byte")
            let tokens = try Generator(engine: engine, sampling: sampling).generate(prompt: prompt, maxNewTokens: 8)
            return (result.loss, tokens)
        }
        for (loss, tokens) in results {
            #expect(abs(loss - reference.loss) <= 1e-4 * reference.loss)
            #expect(tokens == expected)
        }
    }
}

extension EvaluationGenerationTests {
    /// The logits generation samples from are the same on every tp rank and equal one device's.
    @Test func tensorParallelLogitsEqualOneDevice() throws {
        let config = try TransformerConfig.preset(named: "tiny")
        let batch = try MicroBatch(tokens: [97, 98, 99, 100], targets: nil, batch: 1, length: 4)
        let reference = try MeshEngine(config: config, seed: 1).logits(batch)
        let results = try ThreadGroup.run(ranks: 2) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(tp: 2))
            return try MeshEngine(config: config, groups: groups, seed: 1).logits(batch)
        }
        for logits in results {
            #expect(logits.count == reference.count)
            #expect(zip(logits, reference).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
    }
}

extension EvaluationGenerationTests {
    /// Past the context (64 for `tiny`) generation slides its window instead of failing; before it, the cached
    /// path gives the tokens recomputation would.
    @Test func generationOutlivesTheContextAndMatchesRecomputation() throws {
        let engine = try Self.trainedEngine(steps: 20)
        let prompt = Array("abcdefghabcdefgh".utf8.map { Int32($0) })
        let tokens = try Generator(engine: engine, sampling: SamplingOptions()).generate(prompt: prompt, maxNewTokens: 52)
        #expect(tokens.count == 52)
        var sequence = prompt, recomputed: [Int32] = []
        for _ in 0..<52 {
            let logits = try engine.nextTokenLogits(Array(sequence.suffix(64)))
            let next = Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
            recomputed.append(next)
            sequence.append(next)
        }
        #expect(tokens == recomputed)
    }
}
