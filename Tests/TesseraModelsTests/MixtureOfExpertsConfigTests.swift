import Foundation
import Testing
import TesseraFormats
import TesseraModels
import TesseraParallel

/// Mixture-of-experts configurations from `config.json` and GGUF, written back to both, and their bad input: each a
/// typed error naming the key and the fix.
@Suite struct MixtureOfExpertsConfigTests {
    static func fixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

    @Test func transformersConfigsReadAndWriteBack() throws {
        let mixtral = try TransformerConfig(contentsOf: Self.fixture("mixtral-tiny"))
        #expect(mixtral.family == .mixtral)
        #expect(mixtral.moe == .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true, includesAuxiliaryLoss: true,
                                                                 auxiliaryLossCoefficient: 0.02), expertIntermediateSize: 48))
        let qwen = try TransformerConfig(contentsOf: Self.fixture("qwen2-moe-tiny"))
        #expect(qwen.family == .qwen2MoE)
        #expect(qwen.moe == .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false, includesAuxiliaryLoss: true,
                                                              auxiliaryLossCoefficient: 0.02), expertIntermediateSize: 24, sharedExpertIntermediateSize: 40))
        let olmoe = try TransformerConfig(contentsOf: Self.fixture("olmoe-tiny"))
        #expect(olmoe.family == .olmoe && olmoe.attention.heads * olmoe.attention.headDim == olmoe.hiddenSize)
        #expect(olmoe.moe == .init(router: RouterConfiguration(experts: 4, topK: 2, normalizesTopK: false, includesAuxiliaryLoss: true,
                                                               auxiliaryLossCoefficient: 0.02), expertIntermediateSize: 24))
        #expect(olmoe.validTensorParallelSizes() == [1, 2], "tp = 3 and 4 would share the 2 key heads")
        var custom = qwen
        custom.moe?.router.scoring = .sigmoid
        custom.moe?.router.capacityFactor = 1.25
        custom.moe?.router.zLossCoefficient = 0.001
        for config in [mixtral, qwen, olmoe, custom] {
            #expect(try TransformerConfig(huggingFaceJSON: config.huggingFaceJSON, path: "config.json") == config)
        }
    }

    /// Each bad key is refused with the key and the fix: top-k above the experts, an unknown scoring function, a
    /// capacity factor ≤ 0 (or any with forced load balance), OLMoE's `clip_qkv`.
    @Test func badRoutingIsRefused() throws {
        func config(_ extra: String) throws -> TransformerConfig {
            try TransformerConfig(huggingFaceJSON: """
                {"model_type": "mixtral", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16, "num_local_experts": 4 \(extra)}
                """, path: "m/config.json")
        }
        #expect(try config("").moe?.router.topK == 2)
        #expect(throws: ModelError.invalidConfiguration(field: "num_experts_per_tok", reason: "top-k 5 must lie in 1...4 (the number of experts)")) {
            try config(#", "num_experts_per_tok": 5"#)
        }
        #expect(throws: ModelError.invalidFile(path: "m/config.json", reason: #"scoring_func "tanh" is unknown; use one of softmax, sigmoid"#)) {
            try config(#", "scoring_func": "tanh""#)
        }
        for factor in ["0", "-1.5"] {
            #expect(throws: ModelError.invalidConfiguration(field: "capacity_factor", reason: "\(Float(factor)!) must be a positive number (or absent for dropless routing)")) {
                try config(#", "capacity_factor": \#(factor)"#)
            }
        }
        #expect(throws: ModelError.self) { try config(#", "router_jitter_noise": 0.01"#) }
        var forced = try config(#", "capacity_factor": 1.25"#)
        forced.moe?.router.forcesLoadBalance = true
        #expect(throws: ModelError.invalidConfiguration(field: "capacity_factor", reason: "forced load balance already gives every expert the same share, so a capacity would only cut it; leave capacity_factor out (dropless) or turn forced balance off")) {
            try forced.validate()
        }
        forced.moe?.router.capacityFactor = nil
        try forced.validate()
        #expect(throws: ModelError.invalidFile(path: "o/config.json", reason: "clip_qkv (clamped query/key/value projections) is not supported; Tessera reads gpt2, llama, qwen2, mixtral, qwen2_moe and olmoe configurations")) {
            try TransformerConfig(huggingFaceJSON: """
                {"model_type": "olmoe", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "max_position_embeddings": 16, "num_experts": 4, "clip_qkv": 8.0}
                """, path: "o/config.json")
        }
    }

    /// A checkpoint without one expert's weight is refused naming that tensor.
    @Test func aMissingExpertTensorIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-moe-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Self.fixture("mixtral-tiny"), toPath: directory)
        let weights = directory + "/model.safetensors", file = try SafeTensorsFile(path: weights)
        let missing = "model.layers.1.block_sparse_moe.experts.3.w2.weight"
        var writer = SafeTensorsWriter()
        for name in file.tensorNames where name != missing { try writer.add(try file.tensor(named: name), named: name) }
        try FileManager.default.removeItem(atPath: weights)
        try writer.write(to: weights)
        #expect(throws: ModelError.missingTensor(file: directory, tensor: missing)) { try MeshEngine(checkpoint: directory) }
    }

    /// GGUF keeps llama.cpp's stacked experts (`blk.N.ffn_gate_exps.weight` `[experts, f, hidden]`) and its expert
    /// metadata; written and read back, every tensor and the configuration are unchanged.
    @Test(arguments: ["mixtral-tiny", "qwen2-moe-tiny", "olmoe-tiny"])
    func ggufRoundTripKeepsTheExperts(_ name: String) throws {
        let checkpoint = try ModelCheckpoint(contentsOf: Self.fixture(name))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-moe-\(UInt32.random(in: 0...UInt32.max)).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try checkpoint.write(to: path, format: .gguf)
        let file = try GGUFFile(path: path)
        #expect(file.info(named: "blk.1.ffn_up_exps.weight")?.shape.count == 3)
        let back = try ModelCheckpoint(gguf: file)
        var expected = checkpoint.config
        expected.moe?.router.includesAuxiliaryLoss = false
        expected.moe?.router.auxiliaryLossCoefficient = 0.001
        #expect(back.config == expected, "GGUF carries the model, not the training objective")
        let read = Dictionary(uniqueKeysWithValues: back.tensors.map { ($0.name, $0.tensor) })
        for (tensorName, tensor) in checkpoint.tensors { #expect(read[tensorName] == tensor, "\(tensorName)") }
    }
}
