import Foundation
import Testing
import TesseraModels
import TesseraTrain

/// Generating a batch of prompts together gives each prompt its continuation alone (greedy and seeded sampling);
/// prompt files are read line by line, and a bad line is an error that names it.
@Suite(.serialized) struct BatchGenerationTests {
    static let config = TransformerConfig.llama(vocabularySize: 61, contextLength: 24, hiddenSize: 32, layers: 2, heads: 4,
                                                kvHeads: 2, intermediateSize: 64, tiedEmbeddings: false)
    static let prompts: [[Int32]] = [[3, 14, 15, 9, 26], [5], [35, 8, 9, 7, 9, 3, 2], [38, 4], [6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9],
                                     [7, 9, 5], [0, 28, 8, 4], [19, 7, 1, 6, 9, 3]]

    @Test(arguments: [SamplingOptions(), SamplingOptions(temperature: 1.2, topK: 20, seed: 9)])
    func aBatchOfEightGivesEachPromptItsTokensAlone(sampling: SamplingOptions) throws {
        var generator = try Generator(engine: MeshEngine(config: Self.config, seed: 5), sampling: sampling)
        generator.prefillChunk = 4
        var streamed = Self.prompts.map { _ in [Int32]() }
        let together = try generator.generate(prompts: Self.prompts, maxNewTokens: 10) { streamed[$0].append($1) }
        let alone = try Self.prompts.map { try generator.generate(prompt: $0, maxNewTokens: 10) }
        #expect(together == alone)
        #expect(streamed == together)
        #expect(together.allSatisfy { $0.count == 10 })
    }

    /// Past the context (24 tokens) a sequence continues by recomputing its last 24 ids, inside the batch too.
    @Test func sequencesPastTheContextSlideTheirWindowInsideTheBatch() throws {
        let generator = try Generator(engine: MeshEngine(config: Self.config, seed: 5), sampling: SamplingOptions())
        let together = try generator.generate(prompts: [Self.prompts[4], Self.prompts[1]], maxNewTokens: 20)
        #expect(together == [try generator.generate(prompt: Self.prompts[4], maxNewTokens: 20),
                             try generator.generate(prompt: Self.prompts[1], maxNewTokens: 20)])
        #expect(together[0].count == 20)
    }

    @Test func promptFilesAreReadLineByLine() throws {
        #expect(try PromptFile.prompts(in: Data("one\ntwo words\r\nthree\n".utf8), path: "p.txt") == ["one", "two words", "three"])
        #expect(try PromptFile.prompts(in: Data("only".utf8), path: "p.txt") == ["only"])
    }

    @Test func aBadPromptLineIsNamed() throws {
        #expect(throws: TrainingError.invalidPromptLine(path: "p.txt", line: 2, reason: "the line is empty")) {
            try PromptFile.prompts(in: Data("one\n\nthree\n".utf8), path: "p.txt")
        }
        #expect(throws: TrainingError.invalidPromptLine(path: "p.txt", line: 3, reason: "the line is not UTF-8 text")) {
            try PromptFile.prompts(in: Data("one\ntwo\n".utf8) + Data([0x66, 0xff, 0x0a]), path: "p.txt")
        }
        #expect(throws: TrainingError.invalidPromptLine(path: "p.txt", line: 1, reason: "the file has no prompts")) {
            try PromptFile.prompts(in: Data(), path: "p.txt")
        }
        let message = TrainingError.invalidPromptLine(path: "p.txt", line: 2, reason: "the line is empty").description
        #expect(message.hasPrefix("p.txt, line 2: the line is empty"))
    }
}
