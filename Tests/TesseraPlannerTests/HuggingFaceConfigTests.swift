import Foundation
import Testing
import TesseraPlanner

/// Hugging Face config.json files of each supported model type, read through `Catalog.model(named:)` with a path.
@Suite struct HuggingFaceConfigTests {
    let catalog = try! Catalog.bundled()

    func model(_ json: String) throws -> ModelArchitecture {
        try catalog.model(named: try temporaryFile("config.json", json))
    }

    @Test func llamaAndMistralFieldNames() throws {
        // meta-llama/Llama-2-7b-hf/config.json (abridged to the fields that matter plus some that do not).
        let llama = try model("""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
             "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32000,
             "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
             "torch_dtype": "float16"}
            """)
        #expect(llama == (try catalog.model(named: "llama-2-7b")).renamed(llama.name, source: llama.source))
        // mistralai/Mistral-7B-v0.1: grouped-query attention, sliding window ignored.
        let mistral = try model("""
            {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
             "sliding_window": 4096, "tie_word_embeddings": false}
            """)
        #expect(abs(mistral.totalParameters / 7.2417e9 - 1) < 0.001)
        #expect(mistral.keyValueCacheElementsPerTokenPerLayer == 2 * 8 * 128)
    }

    @Test func mixtralQwenAndGPT2FieldNames() throws {
        let mixtral = try model("""
            {"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
             "num_local_experts": 8, "num_experts_per_tok": 2}
            """)
        #expect(mixtral.moe?.experts == 8 && mixtral.moe?.expertsPerToken == 2 && mixtral.moe?.expertFFNSize == 14336)
        #expect(abs(mixtral.totalParameters / 46.70e9 - 1) < 0.005)
        // Qwen/Qwen2-7B: biases on q, k, v only, tied embeddings off.
        let qwen = try model("""
            {"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28,
             "num_hidden_layers": 28, "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 131072,
             "tie_word_embeddings": false}
            """)
        #expect(qwen.biases == .queryKeyValue)
        #expect(abs(qwen.totalParameters / 7.6156e9 - 1) < 0.001)
        let gpt2 = try model("""
            {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_ctx": 1024,
             "vocab_size": 50257, "n_inner": null, "activation_function": "gelu_new"}
            """)
        #expect(abs(gpt2.totalParameters - 124_439_808) < 1)
    }

    @Test func deepSeekLatentAttentionAndSharedExperts() throws {
        let v3 = try catalog.model(named: "deepseek-v3")
        #expect(v3.latentAttention?.keyValueRank == 512 && v3.moe?.sharedFFNSize == 2048)
        #expect(v3.moe?.firstDenseLayers == 3 && !v3.isMoELayer(2) && v3.isMoELayer(3))
        // The KV cache stores the 512-wide latent and the 64-wide rotary key (DeepSeek-V2 §2.1.2).
        #expect(v3.keyValueCacheElementsPerTokenPerLayer == 576)
        // DeepSeek-V2-Lite: no query compression (q_lora_rank null), 64 experts, 2 shared, one dense layer.
        let lite = try model("""
            {"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
             "num_attention_heads": 16, "num_key_value_heads": 16, "num_hidden_layers": 27, "n_routed_experts": 64,
             "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "q_lora_rank": null,
             "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
             "vocab_size": 102400, "max_position_embeddings": 163840}
            """)
        #expect(abs(lite.totalParameters / 15.7e9 - 1) < 0.01)
        // DeepSeek counts activated parameters without the input embedding (a lookup, no compute).
        let embedding = Double(lite.vocabularySize * lite.hiddenSize)
        #expect(abs((lite.activeParameters - embedding) / 2.4e9 - 1) < 0.03)
    }

    @Test func missingAndInvalidFieldsNameTheFieldAndTheFile() throws {
        let path = try temporaryFile("config.json", """
            {"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
             "vocab_size": 32000, "max_position_embeddings": 4096}
            """)
        #expect(throws: PlannerError.missingConfigField(field: "intermediate_size", path: path)) {
            try catalog.model(named: path)
        }
        do {
            _ = try catalog.model(named: path)
        } catch let error as PlannerError {
            #expect(error.description.contains("intermediate_size") && error.description.contains(path))
        }
        let moe = try temporaryFile("config.json", """
            {"model_type": "mixtral", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
             "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 64, "num_local_experts": 4}
            """)
        #expect(throws: PlannerError.missingConfigField(field: "num_experts_per_tok", path: moe)) {
            try catalog.model(named: moe)
        }
        let uneven = try temporaryFile("config.json", """
            {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
             "num_key_value_heads": 5, "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": 4096}
            """)
        #expect(throws: PlannerError.self) { try catalog.model(named: uneven) }
        let wrongType = try temporaryFile("config.json", """
            {"model_type": "llama", "hidden_size": "4096"}
            """)
        do {
            _ = try catalog.model(named: wrongType)
            Issue.record("a string hidden_size was accepted")
        } catch let error as PlannerError {
            #expect(error.description.contains("hidden_size") && error.description.contains("wrong type"))
        }
    }
}

extension ModelArchitecture {
    /// The same architecture under another name and source (to compare shapes only).
    func renamed(_ name: String, source: String) -> ModelArchitecture {
        var copy = self
        copy.name = name
        copy.source = source
        return copy
    }
}
