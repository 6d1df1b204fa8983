import Foundation
import Testing
import TesseraFormats
import TesseraTensor

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (fetched by `make assets`) against the reference decoders:
/// gguf-py's dequantize and transformers' GGUF loading (fixture written by scripts/make_tokenizer_fixtures.py).
@Suite(.enabled(if: Locations.hasSmolLM2, "run `make assets` to fetch models/SmolLM2-135M-Instruct.Q4_1.gguf"))
struct SmolLM2CheckpointTests {
    let model: GGUFFile
    let reference: SafeTensorsFile

    init() throws {
        model = try GGUFFile(path: Locations.smolLM2)
        reference = try SafeTensorsFile(path: Locations.fixtures + "/smollm2_reference.safetensors")
    }

    @Test func headerAndMetadataMatchTheModelCard() throws {
        #expect(model.version == 3 && model.alignment == 32)
        #expect(model.architecture == "llama")
        #expect(model.metadata["llama.block_count"]?.int == 30)
        #expect(model.metadata["llama.embedding_length"]?.int == 576)
        #expect(model.metadata["llama.attention.head_count"]?.int == 9)
        #expect(model.metadata["llama.attention.head_count_kv"]?.int == 3)
        #expect(model.metadata["llama.rope.freq_base"]?.double == 100_000)
        #expect(model.metadata["tokenizer.ggml.tokens"]?.strings?.count == 49152)
        #expect(model.tensorNames.count == 272)
        #expect(model.info(named: "token_embd.weight")?.shape == [49152, 576])
        #expect(model.info(named: "token_embd.weight")?.storageType == "Q8_0")
        #expect(model.info(named: "blk.0.ffn_down.weight")?.shape == [576, 1536])
        #expect(model.info(named: "blk.0.attn_k.weight")?.shape == [192, 576])
        #expect(!model.contains("output.weight"), "SmolLM2 ties its output to the embedding")
    }

    @Test func dequantizationMatchesGGUFPyExactly() throws {
        let slices: [(name: String, rows: Range<Int>?)] = [
            ("token_embd.weight", 0..<3), ("blk.0.attn_q.weight", 0..<4), ("blk.0.attn_k.weight", 0..<4),
            ("blk.0.attn_norm.weight", nil), ("blk.29.ffn_down.weight", 570..<576), ("output_norm.weight", nil),
        ]
        for (name, rows) in slices {
            let expected = try reference.tensor(named: "gguf/" + name)
            let actual = try rows.map { try model.tensor(named: name, rows: $0) } ?? model.tensor(named: name)
            #expect(actual == expected, "\(name)")
        }
    }

    @Test func unpermutedQueryAndKeyRowsMatchTransformers() throws {
        // transformers undoes llama.cpp's permutation when it loads a GGUF file; so must we.
        for (stored, hf, heads) in [("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 9),
                                    ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 3)] {
            let expected = try reference.tensor(named: "hf/" + hf)  // rows 0..<128 (two heads), columns 0..<32
            let twoHeads = try model.tensor(named: stored, rows: 0..<128)
            let unpermuted = try RotaryPermutation.unpermute(twoHeads, heads: 2)
            #expect(naiveSlice(unpermuted, 0..<32, alongDimension: 1) == expected, "\(stored)")
            // The whole tensor unpermuted with all heads gives the same rows: the permutation stays inside heads.
            let whole = try RotaryPermutation.unpermute(model.tensor(named: stored), heads: heads)
            #expect(naiveSlice(naiveSlice(whole, 0..<128, alongDimension: 0), 0..<32, alongDimension: 1) == expected)
            // Non-vacuity: the stored order differs from Hugging Face's.
            #expect(naiveSlice(twoHeads, 0..<32, alongDimension: 1) != expected)
        }
        #expect(try model.tensor(named: "token_embd.weight", rows: 0..<3) == reference.tensor(named: "hf/model.embed_tokens.weight"))
    }
}
