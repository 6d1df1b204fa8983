import Foundation
import Testing
import TesseraFormats
import TesseraModels
import TesseraParallel
import TesseraTrain

/// Whole jobs as the CLI runs them: from a text file and a preset to a saved Hugging Face directory and back, and
/// every kind of bad input ending in a one-line error that names the file and the fix.
@Suite(.serialized) struct TrainingJobTests {
    let directory: String
    let text: String

    init() throws {
        let scratch = try ScratchText(prefix: "tessera-job")
        directory = scratch.directory
        text = scratch.text
    }

    func configuration(data: String? = nil, config: String = "tiny", initial: String? = nil, tokenizer: String = "byte",
                       steps: Int = 3) -> TrainingConfiguration {
        TrainingConfiguration(
            model: .init(config: config, initialCheckpoint: initial),
            data: .init(path: data ?? text, tokenizer: tokenizer, sequenceLength: 16), batch: .init(globalBatchSize: 4),
            optimizer: .init(learningRate: 5e-3, warmupSteps: 1),
            parallelism: { var p = ParallelConfig.singleDevice; p.microBatchSize = 2; return p }(), steps: steps, seed: 1)
    }

    /// Runs a job on one device and returns its trainer after every step.
    func train(_ job: TrainingJob) throws -> Trainer {
        let trainer = try job.makeTrainer(world: nil)
        try trainer.run()
        return trainer
    }

    /// `error`'s description is one line, starts with `path` and contains `fix`.
    func namesFileAndFix(_ error: any Error, _ path: String, _ fix: String) -> Bool {
        let message = "\(error)"
        return !message.contains("\n") && message.contains(path) && message.contains(fix)
    }

    @Test func aSavedModelIsAHuggingFaceDirectoryThatTrainingCanStartFrom() throws {
        let job = try TrainingJob(configuration: configuration())
        let trainer = try train(job)
        let saved = directory + "/model"
        try job.save(trainer.engine, toDirectory: saved, world: nil)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: saved + "/" + file), "\(file) missing")
        }
        // The saved tokenizer encodes exactly as the byte tokenizer does.
        let reloaded = try ModelLocation(path: saved).tokenizer().tokenizer
        let sample = "héllo, wörld\n\t ✓"
        #expect(try reloaded.encode(sample) == sample.utf8.map { Int32($0) })

        // --init: the checkpoint's weights, architecture and tokenizer; the loss continues where it stopped.
        let resumed = try TrainingJob(configuration: configuration(config: "demo", initial: saved, steps: 1))
        #expect(resumed.modelConfig == job.modelConfig)
        let before = try Evaluation.evaluate(trainer.engine.inferenceEngine(), ids: job.data.ids, sequenceLength: 16, path: text, tokenizerName: "byte")
        let loaded = try resumed.makeTrainer(world: nil)
        let after = try Evaluation.evaluate(loaded.engine.inferenceEngine(), ids: job.data.ids, sequenceLength: 16, path: text, tokenizerName: "byte")
        #expect(abs(before.loss - after.loss) < 1e-6, "the saved weights were not loaded: \(before.loss) vs \(after.loss)")
        let fresh = try TrainingJob(configuration: configuration()).makeTrainer(world: nil)
        let untrained = try Evaluation.evaluate(fresh.engine.inferenceEngine(), ids: job.data.ids, sequenceLength: 16, path: text, tokenizerName: "byte")
        #expect(untrained.loss > after.loss + 0.1, "non-vacuous: a fresh model scores worse")
    }

    @Test func aMissingOrUnreadableTextIsNamed() throws {
        #expect { try TrainingJob(configuration: configuration(data: directory + "/nope.txt")) }
            throws: { namesFileAndFix($0, directory + "/nope.txt", "set TrainingConfiguration.data.path to an existing") }
        #expect { try TrainingJob(configuration: configuration(data: directory)) }
            throws: { namesFileAndFix($0, directory, "it is a directory") }
    }

    @Test func nonUTF8TextIsNamedWithItsOffset() throws {
        let latin1 = directory + "/latin1.txt"
        try Data([0x41, 0x42, 0xE9, 0x43] + Array(repeating: 0x41, count: 200)).write(to: URL(fileURLWithPath: latin1))
        #expect(throws: TrainingError.invalidUTF8(path: latin1, offset: 2)) { try TrainingJob(configuration: configuration(data: latin1)) }
    }

    @Test func aTextShorterThanOneBatchIsNamed() throws {
        let short = directory + "/short.txt"
        try Data("too short".utf8).write(to: URL(fileURLWithPath: short))
        #expect { try TrainingJob(configuration: configuration(data: short)) }
            throws: { namesFileAndFix($0, short, "TrainingConfiguration.batch.globalBatchSize") }
    }

    @Test func anUnknownPresetListsTheChoices() throws {
        #expect { try TrainingJob(configuration: configuration(config: "gpt5")) }
            throws: { namesFileAndFix($0, "gpt5", "tiny, tiny-gpt2, tiny-moe, small-moe, small-qwen-moe, demo, gpt2-small, smollm2-135m") }
    }

    @Test func idsOutsideTheModelVocabularyAreNamed() throws {
        // The byte tokenizer's ids reach 255 ('é' is 0xC3 0xA9); a model with 128 ids cannot take them.
        let config = try TransformerConfig.preset(named: "tiny")
        var small = config
        small.vocabularySize = 128
        let path = directory + "/small.json"
        try small.huggingFaceJSON.write(toFile: path, atomically: true, encoding: .utf8)
        let accented = directory + "/accented.txt"
        try Data(String(repeating: "café ", count: 100).utf8).write(to: URL(fileURLWithPath: accented))
        #expect(throws: TrainingError.tokenOutOfRange(path: accented, id: 0xC3, position: 3, vocabularySize: 128, tokenizer: "byte")) {
            try TrainingJob(configuration: configuration(data: accented, config: path))
        }
    }

    @Test func aConfigThatContradictsItsWeightsIsNamed() throws {
        let job = try TrainingJob(configuration: configuration(steps: 1))
        let saved = directory + "/contradiction"
        try job.save(try train(job).engine, toDirectory: saved, world: nil)
        var wrong = job.modelConfig
        wrong.mlp.intermediateSize *= 2
        try wrong.huggingFaceJSON.write(toFile: saved + "/config.json", atomically: true, encoding: .utf8)
        let contradicting = try TrainingJob(configuration: configuration(initial: saved))
        #expect { try contradicting.makeTrainer(world: nil) }
            throws: { namesFileAndFix($0, saved, "the config.json does not describe these weights") }
    }

    @Test func aModelPathThatIsNeitherFormatIsNamed() throws {
        #expect { try ModelLocation(path: directory) } throws: { namesFileAndFix($0, directory, "no config.json") }
        #expect { try ModelLocation(path: text) } throws: { namesFileAndFix($0, text, "not GGUF") }
        #expect { try ModelLocation(path: directory + "/none") } throws: { namesFileAndFix($0, directory + "/none", "no such file") }
    }

    @Test func invalidFlagCombinationsNameTheFlag() throws {
        var c = configuration()
        c.batch = .init(globalBatchSize: 6)
        c.parallelism.microBatchSize = 4
        #expect { try TrainingJob(configuration: c) } throws: { namesFileAndFix($0, "microBatchSize", "{1, 2, 3, 6}") }
        c = configuration()
        c.data.sequenceLength = 65
        #expect { try TrainingJob(configuration: c) } throws: { namesFileAndFix($0, "TrainingConfiguration.data.sequenceLength", "≤ 64") }
        c = configuration()
        c.parallelism.tp = 5
        #expect { try TrainingJob(configuration: c) } throws: { namesFileAndFix($0, "tp=5", "use tp ∈ {1, 2, 3, 4}") }
        c = configuration()
        c.steps = 0
        #expect { try TrainingJob(configuration: c) } throws: { namesFileAndFix($0, "TrainingConfiguration.steps", "at least 1") }
        #expect { try TokenizerChoice.named(directory + "/missing.json") } throws: { namesFileAndFix($0, "missing.json", "TrainingConfiguration.data.tokenizer to byte") }
        #expect { try TokenizerChoice.named("gpt2", gpt2Directory: directory) } throws: { namesFileAndFix($0, directory, "make assets") }
    }

    @Test func theByteTokenizerFileRoundTripsThroughTheBPEReader() throws {
        let path = directory + "/tokenizer.json"
        try ByteTokenizer.huggingFaceTokenizerJSON.write(toFile: path, atomically: true, encoding: .utf8)
        let bpe = try BPETokenizer(tokenizerJSON: path)
        #expect(bpe.vocabularySize == 256)
        let bytes = (0..<256).map { UInt8($0) }
        #expect(try bpe.decodeBytes(bytes.map { Int32($0) }) == bytes)
        let sample = "  spaces, digits 123, ünïcödé ✓ and\nnewlines"
        #expect(try bpe.encode(sample) == sample.utf8.map { Int32($0) })
    }
}

/// Printing a continuation token by token never splits a character.
@Suite struct TextStreamTests {
    @Test func charactersAreHeldBackUntilComplete() {
        var stream = TextStream()
        let check = Array("a✓".utf8)  // 0x61, 0xE2 0x9C 0x93
        #expect(stream.next(Array(check[0..<2])) == "a")
        #expect(stream.next(Array(check[0..<3])) == "")
        #expect(stream.next(check) == "✓")
        #expect(stream.finish(check) == "")
        var broken = TextStream()
        #expect(broken.next([0x61, 0xE2]) == "a")
        #expect(broken.finish([0x61, 0xE2]) == "\u{FFFD}")
    }
}
