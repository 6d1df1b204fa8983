import Testing
import TesseraModels
import TesseraParallel

/// `MeshEngine.prefill`: a prompt run in chunks through the decoding path (whose blocks take turns with two activation
/// states) predicts what the whole-prompt forward pass predicts, whatever the chunk.
@Suite struct PrefillTests {
    static let prompt: [Int32] = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3, 2]

    @Test(arguments: [1, 3, 5, 13])
    func chunkedPrefillMatchesTheWholePromptForward(chunk: Int) throws {
        let engine = try MeshEngine(config: TinyConfigs.llama, seed: 4)
        let expected = try engine.nextTokenLogits(Self.prompt)
        let pool = try engine.makeBlockPool(blocks: 4, blockSize: 4), table = KVBlockTable()
        let logits = try engine.prefill(Self.prompt, into: table, pool: pool, chunk: chunk)
        #expect(table.count == Self.prompt.count)
        #expect(zip(logits, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "chunk \(chunk)")
    }

    /// Non-vacuity: prefilling a prompt with one token changed is caught by the same comparison.
    @Test func aDifferentPromptIsCaught() throws {
        let engine = try MeshEngine(config: TinyConfigs.llama, seed: 4)
        let expected = try engine.nextTokenLogits(Self.prompt)
        var changed = Self.prompt
        changed[4] = 27
        let pool = try engine.makeBlockPool(blocks: 4, blockSize: 4)
        let logits = try engine.prefill(changed, into: KVBlockTable(), pool: pool, chunk: 5)
        #expect(!zip(logits, expected).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}
