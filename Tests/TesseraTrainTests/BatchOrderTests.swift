import Testing
import TesseraParallel
import TesseraTrain

/// The documented data order, checked against examples worked out by hand.
@Suite struct BatchOrderTests {
    /// Ids equal to their position make every expectation readable: id k is stream index k.
    let stream: [Int32] = Array(0..<10)

    func batch(_ step: Int, _ sequences: Range<Int>, length: Int, global: Int) throws -> (inputs: [Int32], targets: [Int32]) {
        let data = try TrainingData(path: "stream", ids: stream, sequenceLength: length, globalBatchSize: global,
                                    vocabularySize: 10, tokenizerName: "test")
        return data.batch(step: step, sequences: sequences)
    }

    @Test func firstStepReadsConsecutiveSequences() throws {
        // N = 10, T = 3, G = 2: step 0 sequence 0 starts at 0, sequence 1 at 3.
        let b = try batch(0, 0..<2, length: 3, global: 2)
        #expect(b.inputs == [0, 1, 2, 3, 4, 5])
        #expect(b.targets == [1, 2, 3, 4, 5, 6])
    }

    @Test func laterStepsWrapAroundTheStream() throws {
        // Step 1: sequence 0 starts at (1·2 + 0)·3 = 6, sequence 1 at 9 (reads 9, 0, 1; targets 0, 1, 2).
        let b = try batch(1, 0..<2, length: 3, global: 2)
        #expect(b.inputs == [6, 7, 8, 9, 0, 1])
        #expect(b.targets == [7, 8, 9, 0, 1, 2])
        // Step 2: starts (2·2)·3 = 12 ≡ 2 and 15 ≡ 5.
        let c = try batch(2, 0..<2, length: 3, global: 2)
        #expect(c.inputs == [2, 3, 4, 5, 6, 7])
        #expect(c.targets == [3, 4, 5, 6, 7, 8])
    }

    @Test func aTargetWrapsEvenWhenItsInputDoesNot() throws {
        // N = 10, T = 5, G = 1: step 1 reads 5...9, whose last target is id 0.
        let b = try batch(1, 0..<1, length: 5, global: 1)
        #expect(b.inputs == [5, 6, 7, 8, 9])
        #expect(b.targets == [6, 7, 8, 9, 0])
    }

    @Test func startIsModularForLongRuns() throws {
        let order = try BatchOrder(streamLength: 1_000_003, sequenceLength: 1024, globalBatchSize: 512)
        let step = 10_000_000
        let expected = Int((Int64(step) * 512 + 7) * 1024 % 1_000_003)
        #expect(order.start(step: step, sequence: 7) == expected)
    }

    @Test func microBatchesAndDataRanksTakeConsecutiveSlices() throws {
        let layout = try BatchLayout(globalBatchSize: 8, microBatchSize: 2, dataParallelSize: 2)
        #expect(layout.microBatchesPerRank == 2)
        #expect(layout.sequences(microBatch: 0, dataRank: 0) == 0..<2)
        #expect(layout.sequences(microBatch: 1, dataRank: 0) == 2..<4)
        #expect(layout.sequences(microBatch: 0, dataRank: 1) == 4..<6)
        #expect(layout.sequences(microBatch: 1, dataRank: 1) == 6..<8)
    }

    @Test func microBatchesConcatenateToTheGlobalBatch() throws {
        let data = try TrainingData(path: "stream", ids: Array(0..<97), sequenceLength: 4, globalBatchSize: 6,
                                    vocabularySize: 97, tokenizerName: "test")
        for micro in [1, 2, 3, 6] {
            let layout = try BatchLayout(globalBatchSize: 6, microBatchSize: micro)
            for step in [0, 3, 11] {
                var inputs: [Int32] = [], targets: [Int32] = []
                for m in 0..<layout.microBatchesPerRank {
                    let b = data.batch(step: step, sequences: layout.sequences(microBatch: m))
                    inputs += b.inputs
                    targets += b.targets
                }
                let whole = data.batch(step: step, sequences: 0..<6)
                #expect(inputs == whole.inputs && targets == whole.targets)
            }
        }
    }

    @Test func indivisibleBatchesNameTheFlagAndTheChoices() {
        #expect(throws: TrainingError.invalidOption(
            option: LayoutParameter.microBatchSize.name,
            reason: "global batch size 6 is not divisible by micro-batch size 4; use \(name: LayoutParameter.microBatchSize) ∈ {1, 2, 3, 6}")) {
            try BatchLayout(globalBatchSize: 6, microBatchSize: 4)
        }
        #expect(throws: TrainingError.self) { try BatchLayout(globalBatchSize: 6, microBatchSize: 0) }
        #expect(throws: TrainingError.self) { try BatchOrder(streamLength: 10, sequenceLength: 0, globalBatchSize: 1) }
    }

    @Test func aTextShorterThanOneStepIsRefused() {
        // G·T + 1 = 2·5 + 1 = 11 ids are needed; the stream has 10.
        #expect {
            try TrainingData(path: "short.txt", ids: stream, sequenceLength: 5, globalBatchSize: 2, vocabularySize: 10,
                             tokenizerName: "byte")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("short.txt: 10 tokens are fewer than the 11 one step needs;") && message.contains("TrainingConfiguration.data.sequenceLength")
        }
        // Exactly one step's worth is enough.
        #expect(throws: Never.self) {
            try TrainingData(path: "ok", ids: Array(0..<11), sequenceLength: 5, globalBatchSize: 2, vocabularySize: 11,
                             tokenizerName: "byte")
        }
    }

    @Test func idsOutsideTheVocabularyAreRefused() {
        #expect(throws: TrainingError.tokenOutOfRange(path: "data.txt", id: 9, position: 9, vocabularySize: 9, tokenizer: "gpt2")) {
            try TrainingData(path: "data.txt", ids: stream, sequenceLength: 2, globalBatchSize: 1, vocabularySize: 9,
                             tokenizerName: "gpt2")
        }
    }
}
