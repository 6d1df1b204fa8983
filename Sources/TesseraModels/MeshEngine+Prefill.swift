import TesseraParallel

/// Prompts run in chunks: the one rule for how a prompt enters the key/value cache, shared by ``decode(_:pool:)``'s
/// callers (`tessera generate`, `tessera bench generate`, the server's scheduler).
extension MeshEngine {
    /// Most prompt tokens of one sequence per decoding step unless a caller chooses otherwise. A step's activations
    /// grow with its rows (two blocks' worth are held: about 17 KiB per row for SmolLM2-135M, so 4 MiB at 256), while
    /// each weight already serves 256 rows per pass, so longer chunks add memory and little speed. Chunk boundaries
    /// fall every `defaultPrefillChunk` tokens from the start of the sequence, whatever else runs in the step, so a
    /// sequence's numbers do not depend on the batch.
    public static let defaultPrefillChunk = 256

    /// Runs `prompt` after the tokens `sequence` holds, `chunk` tokens per ``decode(_:pool:)`` step, and returns the
    /// logits `[vocabulary]` after its last token (the same on every rank; every rank calls it alike).
    /// - Throws: as ``decode(_:pool:)``; ``ModelError/invalidBatch(reason:)`` for an empty prompt.
    public func prefill(_ prompt: [Int32], into sequence: KVBlockTable, pool: KVBlockPool,
                        chunk: Int = MeshEngine.defaultPrefillChunk) throws -> [Float] {
        var start = 0, logits: [Float] = []
        repeat {
            let end = min(prompt.count, start + max(1, chunk))
            logits = try decode([DecodeSegment(sequence: sequence, tokens: Array(prompt[start..<end]))], pool: pool)[0]
            start = end
        } while start < prompt.count
        return logits
    }
}
