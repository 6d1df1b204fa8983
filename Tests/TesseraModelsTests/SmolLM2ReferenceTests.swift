import Foundation
import Testing
import TesseraFormats
import TesseraModels

/// SmolLM2-135M-Instruct (the Q4_1 GGUF that `make assets` fetches into models/) against transformers
/// running the same dequantized weights in fp32 (`scripts/make_model_fixtures.py`): the prompt's
/// last-position logits within 1e-4 of the largest logit, the same 12-token greedy continuation, and the
/// loss on a fixed text within 1e-4 relative. Skipped when the GGUF has not been fetched.
@Suite struct SmolLM2ReferenceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let gguf = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let available = FileManager.default.fileExists(atPath: gguf)

    @Test(.enabled(if: available, "models/SmolLM2-135M-Instruct.Q4_1.gguf is missing; run make assets"))
    func logitsGreedyContinuationAndLossMatchTransformers() throws {
        let reference = try SafeTensorsFile(path: Bundle.module.url(forResource: "Fixtures/smollm2-135m", withExtension: "safetensors")!.path)
        func ids(_ name: String) throws -> [Int32] { try reference.tensor(named: name).scalars.map { Int32($0) } }
        let engine = try MeshEngine(gguf: Self.gguf)
        #expect(engine.config == (try TransformerConfig(gguf: GGUFFile(path: Self.gguf))))
        #expect(engine.config.attention.kvHeads == 3 && engine.config.tiedEmbeddings)

        let prompt = try ids("prompt_ids")
        let logits = try engine.nextTokenLogits(prompt), expected = try reference.tensor(named: "prompt_logits").scalars
        let scale = expected.map(abs).max()!
        let worst = zip(logits, expected).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "largest logit difference \(worst) of \(scale)")

        var sequence = prompt, continuation: [Int32] = []
        for _ in 0..<12 {
            let next = try engine.nextTokenLogits(sequence)
            let token = Int32(next.indices.max { next[$0] < next[$1] }!)
            continuation.append(token)
            sequence.append(token)
        }
        #expect(continuation == (try ids("greedy_ids")))

        let text = try ids("text_ids")
        let batch = try MicroBatch(tokens: Array(text.dropLast()), targets: Array(text.dropFirst()), batch: 1, length: text.count - 1)
        let (sum, count) = try engine.evaluate(batch)
        let expectedLoss = Double(try reference.tensor(named: "text_loss").scalars[0])
        #expect(abs(sum / Double(count) - expectedLoss) <= 1e-4 * expectedLoss)
    }
}
