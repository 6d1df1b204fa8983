import Foundation
import Testing
import TesseraFormats
import TesseraModels
import TesseraParallel
import TesseraTensor

/// Qwen2, the family added through its description and name mappings alone: its `config.json`, its Hugging Face
/// directory and GGUF file on every tensor-parallel layout (the fixture's query/key/value biases are random, so a
/// rank holding the wrong slice of one changes the logits), and what it refuses.
@Suite(.serialized) struct Qwen2Tests {
    static let directory = ConversionFixtures.directory("qwen2-tiny")

    @Test func configJSONReadsAndRoundTrips() throws {
        let config = try TransformerConfig(contentsOf: Self.directory)
        #expect(config.family == .qwen2 && config.tiedEmbeddings)
        #expect(config.attention.kvHeads == 2 && config.attention.ropeTheta == 1_000_000 && config.norm.epsilon == 1e-6)
        #expect(try TransformerConfig(huggingFaceJSON: config.huggingFaceJSON, path: "config.json") == config)
        #expect(config.huggingFaceJSON.contains(#""model_type":"qwen2""#) && config.huggingFaceJSON.contains(#""use_sliding_window":false"#))
        #expect(config.parameterSpecs(context: .single).filter { $0.name.hasSuffix("_proj.bias") }.count == 3 * config.layers)
    }

    /// The Hugging Face directory and its GGUF load to the same shards on every layout, and every layout computes the
    /// single-device logits.
    @Test(arguments: [(1, false), (2, false), (2, true), (4, false)])
    func directoryAndGGUFLoadToTheSingleDeviceModel(tp: Int, sequenceParallel: Bool) throws {
        let scratch = try ScratchDirectory(), gguf = scratch.file("qwen2.gguf"), directory = Self.directory
        try ModelCheckpoint(contentsOf: directory).write(to: gguf, format: .gguf)
        let single = try ConversionFixtures.snapshot(MeshEngine(checkpoint: directory))
        let fromHF = try ConversionFixtures.snapshot(tp: tp, sequenceParallel: sequenceParallel) {
            try MeshEngine(checkpoint: directory, parallel: ParallelConfig(mesh: $0?.mesh, sequenceParallel: $1), groups: $0)
        }
        let fromGGUF = try ConversionFixtures.snapshot(tp: tp, sequenceParallel: sequenceParallel) {
            try MeshEngine(gguf: gguf, parallel: ParallelConfig(mesh: $0?.mesh, sequenceParallel: $1), groups: $0)
        }
        #expect(fromHF.parameters == single.parameters)
        #expect(fromGGUF.parameters == fromHF.parameters && fromGGUF.logits == fromHF.logits)
        #expect(zip(fromHF.logits, single.logits).allSatisfy { abs($0 - $1) <= 1e-5 }, "tp=\(tp)")
    }

    /// Non-vacuity of the layout test above: a query bias whose head halves are swapped (what a rank reading its
    /// neighbour's slice would hold) moves the logits far beyond its tolerance.
    @Test func misplacedBiasSlicesChangeTheLogits() throws {
        let scratch = try ScratchDirectory()
        var checkpoint = try ModelCheckpoint(contentsOf: Self.directory)
        let index = checkpoint.tensors.firstIndex { $0.name == "model.layers.0.self_attn.q_proj.bias" }!
        let bias = checkpoint.tensors[index].tensor.scalars, half = bias.count / 2
        checkpoint.tensors[index].tensor = try Tensor(shape: [bias.count], scalars: Array(bias[half...] + bias[..<half]))
        try checkpoint.write(to: scratch.file("swapped"), format: .huggingFace)
        let original = try ConversionFixtures.snapshot(MeshEngine(checkpoint: Self.directory)).logits
        let swapped = try ConversionFixtures.snapshot(MeshEngine(checkpoint: scratch.file("swapped"))).logits
        #expect(zip(swapped, original).map { abs($0 - $1) }.max()! > 1e-3)
    }

    @Test func unsupportedQwen2FeaturesAreNamed() throws {
        let text = try String(contentsOfFile: Self.directory + "/config.json", encoding: .utf8)
        let sliding = text.replacingOccurrences(of: #""use_sliding_window": false"#, with: #""use_sliding_window": true"#)
        #expect(sliding != text)
        #expect(throws: ModelError.invalidFile(
            path: "c", reason: #""use_sliding_window": true is not supported; Tessera reads gpt2, llama, qwen2, mixtral, qwen2_moe and olmoe configurations"#)) {
            try TransformerConfig(huggingFaceJSON: sliding, path: "c")
        }
        let biasedLlama = #"{"model_type": "llama", "attention_bias": true}"#
        #expect(throws: ModelError.invalidFile(
            path: "c", reason: #""attention_bias": true is not supported; Tessera reads gpt2, llama, qwen2, mixtral, qwen2_moe and olmoe configurations"#)) {
            try TransformerConfig(huggingFaceJSON: biasedLlama, path: "c")
        }
    }
}
