import Foundation
import Testing
import TesseraCollectives
import TesseraFormats
import TesseraModels
import TesseraParallel
import TesseraTensor

/// A fresh scratch directory, removed when released.
final class ScratchDirectory {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-convert-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

enum ConversionFixtures {
    static func directory(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

    /// Every parameter of `engine`, gathered, with the first rank's logits for a fixed batch.
    static func snapshot(_ engine: MeshEngine) throws -> (parameters: [String: [Float]], logits: [Float]) {
        let batch = try MicroBatch(tokens: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], targets: nil, batch: 2, length: 6)
        let parameters = try engine.model.fullParameters().reduce(into: [:]) { $0[$1.name] = $1.tensor.scalars }
        return (parameters, try engine.logits(batch))
    }

    /// ``snapshot(_:)`` of an engine built on `tp` thread ranks by `make`.
    static func snapshot(tp: Int, sequenceParallel: Bool = false,
                         _ make: @Sendable @escaping (ProcessGroups?, Bool) throws -> MeshEngine) throws
        -> (parameters: [String: [Float]], logits: [Float]) {
        try ThreadGroup.run(ranks: tp, deadline: .seconds(60)) { world in
            let groups = tp == 1 ? nil : try ProcessGroups(world: world, mesh: DeviceMesh(tp: tp))
            return try snapshot(make(groups, sequenceParallel))
        }[0]
    }
}

@Suite(.serialized) struct ConversionTests {
    /// A GPT-2 written as a llama.cpp-layout GGUF (transposed Conv1D weights, llama.cpp names) loads, on every
    /// layout, to exactly the model the Hugging Face directory gives: each rank's slices come from the right rows
    /// and columns of the stored (transposed) tensors.
    @Test(arguments: [(1, false), (2, false), (2, true), (4, true)])
    func gpt2GGUFLoadsToTheHuggingFaceModel(tp: Int, sequenceParallel: Bool) throws {
        let scratch = try ScratchDirectory(), gguf = scratch.file("gpt2.gguf"), directory = ConversionFixtures.directory("gpt2-tiny")
        try ModelCheckpoint(contentsOf: directory).write(to: gguf, format: .gguf)
        let file = try GGUFFile(path: gguf)
        #expect(file.architecture == "gpt2" && !file.contains("output.weight"))
        #expect(file.info(named: "blk.0.attn_qkv.weight")?.shape == [96, 32], "stored [out, in] as llama.cpp does")
        #expect(try TransformerConfig(gguf: file) == TransformerConfig(contentsOf: directory))

        let fromHF = try ConversionFixtures.snapshot(tp: tp, sequenceParallel: sequenceParallel) {
            try MeshEngine(checkpoint: directory, parallel: ParallelConfig(mesh: $0?.mesh, sequenceParallel: $1), groups: $0)
        }
        let fromGGUF = try ConversionFixtures.snapshot(tp: tp, sequenceParallel: sequenceParallel) {
            try MeshEngine(gguf: gguf, parallel: ParallelConfig(mesh: $0?.mesh, sequenceParallel: $1), groups: $0)
        }
        #expect(fromGGUF.parameters == fromHF.parameters)
        #expect(fromGGUF.logits == fromHF.logits)
    }

    /// Block-quantized GGUF weights split over tp: a rank's column slice of 8 or 16 features cuts through
    /// Q8_0's 32-element blocks, so it is cut from the whole tensor; every layout gathers the single-device values.
    @Test func quantizedGGUFSlicesEqualTheWholeTensors() throws {
        let scratch = try ScratchDirectory(), gguf = scratch.file("gpt2-q8.gguf")
        try ModelCheckpoint(contentsOf: ConversionFixtures.directory("gpt2-tiny")).write(to: gguf, format: .gguf, dtype: .q8_0)
        let file = try GGUFFile(path: gguf)
        #expect(file.info(named: "blk.0.ffn_down.weight")?.storageType == "Q8_0")
        #expect(file.info(named: "blk.0.ffn_down.bias")?.storageType == "F32", "vectors stay F32")
        let single = try ConversionFixtures.snapshot(MeshEngine(gguf: gguf))
        for tp in [2, 4] {
            let split = try ConversionFixtures.snapshot(tp: tp) { try MeshEngine(gguf: gguf, parallel: ParallelConfig(mesh: $0?.mesh, sequenceParallel: $1), groups: $0) }
            #expect(split.parameters == single.parameters, "tp=\(tp)")
        }
    }

    /// Hugging Face → GGUF (F32) → Hugging Face gives identical tensors, configuration and logits, and the GGUF holds
    /// llama.cpp's layout (Llama's query/key rows permuted, GPT-2's Conv1D weights transposed, Qwen2's weights and
    /// biases as in Hugging Face).
    @Test(arguments: ["gpt2-tiny", "llama-tiny", "qwen2-tiny"])
    func huggingFaceToGGUFAndBackIsExact(_ fixture: String) throws {
        let scratch = try ScratchDirectory(), directory = ConversionFixtures.directory(fixture)
        let original = try ModelCheckpoint(contentsOf: directory)
        try original.write(to: scratch.file("model.gguf"), format: .gguf)
        let viaGGUF = try ModelCheckpoint(contentsOf: scratch.file("model.gguf"))
        try viaGGUF.write(to: scratch.file("back"), format: .huggingFace)
        let back = try ModelCheckpoint(contentsOf: scratch.file("back"))
        #expect(back.config == original.config)
        #expect(back.tensors.map(\.name) == original.tensors.map(\.name))
        #expect(back.tensors.map(\.tensor) == original.tensors.map(\.tensor))

        let file = try GGUFFile(path: scratch.file("model.gguf"))
        let config = original.config, tensors = Dictionary(uniqueKeysWithValues: original.tensors)
        #expect(file.architecture == fixture.replacingOccurrences(of: "-tiny", with: ""))
        if config.family == .llama {
            let q = try RotaryPermutation.permute(tensors["model.layers.1.self_attn.q_proj.weight"]!, heads: config.attention.heads)
            let k = try RotaryPermutation.permute(tensors["model.layers.1.self_attn.k_proj.weight"]!, heads: config.attention.kvHeads)
            #expect(try file.tensor(named: "blk.1.attn_q.weight") == q && file.tensor(named: "blk.1.attn_k.weight") == k)
            #expect(try file.tensor(named: "output.weight") == tensors["lm_head.weight"]!)
        } else if config.family == .qwen2 {
            #expect(try file.tensor(named: "blk.1.attn_k.weight") == tensors["model.layers.1.self_attn.k_proj.weight"]!)
            #expect(try file.tensor(named: "blk.1.attn_q.bias") == tensors["model.layers.1.self_attn.q_proj.bias"]!)
            #expect(!file.contains("output.weight"), "tied")
        } else {
            let up = tensors["transformer.h.1.mlp.c_fc.weight"]!
            #expect(try file.tensor(named: "blk.1.ffn_up.weight").shape == [up.shape[1], up.shape[0]])
        }
        let logits = try ConversionFixtures.snapshot(MeshEngine(checkpoint: directory)).logits
        #expect(try ConversionFixtures.snapshot(MeshEngine(checkpoint: scratch.file("back"))).logits == logits)
        #expect(try ConversionFixtures.snapshot(MeshEngine(gguf: scratch.file("model.gguf"))).logits == logits)
    }

    /// Half-precision outputs: F16 safetensors hold the F16 rounding of every value and say so in config.json.
    @Test func halfPrecisionHuggingFaceOutput() throws {
        let scratch = try ScratchDirectory()
        let original = try ModelCheckpoint(contentsOf: ConversionFixtures.directory("llama-tiny"))
        try original.write(to: scratch.file("f16"), format: .huggingFace, dtype: .f16)
        let config = try String(contentsOfFile: scratch.file("f16/config.json"), encoding: .utf8)
        #expect(config.contains(#""torch_dtype":"float16""#))
        let stored = try SafeTensorsCheckpoint(path: scratch.file("f16"))
        #expect(stored.info(named: "model.embed_tokens.weight")?.storageType == "F16")
        for (name, tensor) in original.tensors {
            #expect(try stored.tensor(named: name).scalars == tensor.scalars.map { Float(Float16($0)) }, "\(name)")
        }
    }

    /// SmolLM2-135M (Q4_1 GGUF, dequantized) → Hugging Face directory: the directory's model gives exactly the
    /// GGUF's logits and its tokenizer the GGUF tokenizer's ids.
    @Test(.enabled(if: SmolLM2ReferenceTests.available, "models/SmolLM2-135M-Instruct.Q4_1.gguf is missing; run make assets"))
    func smolLM2GGUFBecomesAnEquivalentHuggingFaceDirectory() throws {
        let scratch = try ScratchDirectory(), directory = scratch.file("smollm2")
        try ModelCheckpoint(contentsOf: SmolLM2ReferenceTests.gguf).write(to: directory, format: .huggingFace)
        let reference = try SafeTensorsFile(path: Bundle.module.url(forResource: "Fixtures/smollm2-135m", withExtension: "safetensors")!.path)
        let prompt = try reference.tensor(named: "prompt_ids").scalars.map { Int32($0) }
        let fromGGUF = try MeshEngine(gguf: SmolLM2ReferenceTests.gguf).nextTokenLogits(prompt)
        #expect(try MeshEngine(checkpoint: directory).nextTokenLogits(prompt) == fromGGUF)
        let text = "Once upon a time, 12345 naïve cafés<|im_end|>"
        let tokenizer = try BPETokenizer(huggingFaceDirectory: directory)
        #expect(try tokenizer.encode(text) == BPETokenizer(gguf: GGUFFile(path: SmolLM2ReferenceTests.gguf)).encode(text))
        #expect(try tokenizer.encode("The capital of France is") == prompt, "the reference prompt (scripts/make_model_fixtures.py)")
    }
}
