import Foundation
import Testing
import TesseraFormats
import TesseraModels
import TesseraTensor

/// Conversion refuses what it cannot do, with messages that name the file and the fix, and never leaves a
/// partial output or touches an existing one it may not replace.
@Suite struct ConversionBadInputTests {
    /// A GGUF file holding the tiny GPT-2 with `edit` applied to its metadata.
    static func gpt2GGUF(in scratch: ScratchDirectory, _ edit: (inout GGUFWriter) throws -> Void = { _ in }) throws -> String {
        let checkpoint = try ModelCheckpoint(contentsOf: ConversionFixtures.directory("gpt2-tiny"))
        var writer = GGUFWriter()
        for (key, value) in checkpoint.config.ggufMetadata { writer.metadata[key] = value }
        for (name, tensor) in checkpoint.tensors {
            let layout = checkpoint.config.ggufLayout(of: name)
            try writer.add(layout.transform == .transposed ? Tensor(shape: [tensor.shape[1], tensor.shape[0]], repeating: 0) : tensor,
                           named: layout.name)
        }
        try edit(&writer)
        let path = scratch.file("edited.gguf")
        try writer.write(to: path)
        return path
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func anExistingOutputIsKeptWithoutReplacing() throws {
        let scratch = try ScratchDirectory(), output = scratch.file("out")
        let checkpoint = try ModelCheckpoint(contentsOf: ConversionFixtures.directory("llama-tiny"))
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: output + "/note.txt"))
        #expect(throws: ModelError.fileExists(path: output)) {
            try checkpoint.write(to: output, format: .huggingFace)
        }
        #expect(try String(contentsOfFile: output + "/note.txt", encoding: .utf8) == "keep me")

        // Replacing swaps in the whole new directory and leaves nothing else behind.
        try checkpoint.write(to: output, format: .huggingFace, replacing: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: output).sorted() == ["config.json", "model.safetensors"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["out"])
        #expect(try ModelCheckpoint(contentsOf: output).tensors.map(\.tensor) == checkpoint.tensors.map(\.tensor))
    }

    @Test func unsupportedDTypesAndOutputsAreRefused() throws {
        let scratch = try ScratchDirectory()
        let checkpoint = try ModelCheckpoint(contentsOf: ConversionFixtures.directory("gpt2-tiny"))
        #expect(Self.message { try checkpoint.write(to: scratch.file("q8"), format: .huggingFace, dtype: .q8_0) }
                    == "\(scratch.file("q8")): safetensors cannot store q8_0; use one of f32, f16, bf16")
        try FileManager.default.createDirectory(atPath: scratch.file("dir.gguf"), withIntermediateDirectories: true)
        #expect(Self.message { try checkpoint.write(to: scratch.file("dir.gguf"), format: .gguf, replacing: true) }
                    .contains("is a directory; a GGUF output is one file"))
        #expect(Self.message { _ = try ModelCheckpoint(contentsOf: scratch.file("missing")) }
                    .contains("no such file or directory"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["dir.gguf"])
    }

    @Test func ggufFilesTesseraCannotReadAreNamed() throws {
        let scratch = try ScratchDirectory()
        let falcon = try Self.gpt2GGUF(in: scratch) { $0.metadata["general.architecture"] = .string("falcon") }
        #expect(Self.message { _ = try ModelCheckpoint(contentsOf: falcon) }
                    == "\(falcon): GGUF architecture \"falcon\" is not supported; Tessera reads gpt2, llama, qwen2, qwen2moe and olmoe GGUF files")
        let noLayers = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.block_count"] = nil }
        #expect(Self.message { _ = try MeshEngine(gguf: noLayers) } == "\(noLayers): metadata gpt2.block_count is missing")
        let biased = try Self.gpt2GGUF(in: scratch) { try $0.add(Tensor(shape: [32], repeating: 0), named: "blk.0.attn_q.bias") }
        #expect(Self.message { _ = try MeshEngine(gguf: biased) }
                    == "\(biased): tensor 'blk.0.attn_q.bias' is not supported; Tessera's gpt2 has none")
        let scaled = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.rope.scaling.type"] = .string("yarn") }
        #expect(Self.message { _ = try MeshEngine(gguf: scaled) }.contains("rope scaling 'yarn' is not supported"))
        let experts = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.expert_count"] = .uint32(8) }
        #expect(Self.message { _ = try MeshEngine(gguf: experts) }.contains("a mixture of 8 experts is not supported"))
        let grouped = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.attention.head_count_kv"] = .uint32(2) }
        #expect(Self.message { _ = try MeshEngine(gguf: grouped) }
                    == "\(grouped): gpt2.attention.head_count_kv is 2 but gpt2 has no grouped-query attention (4 heads)")
        let floatLayers = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.block_count"] = .float32(2) }
        #expect(Self.message { _ = try MeshEngine(gguf: floatLayers) }.contains("gpt2.block_count must be an integer"))
    }

    /// GPT-2 ties its head to the embedding: an `output.weight` equal to `token_embd` is accepted, another is refused.
    @Test func anUntiedGPT2HeadIsRefused() throws {
        let scratch = try ScratchDirectory()
        let embedding = try ModelCheckpoint(contentsOf: ConversionFixtures.directory("gpt2-tiny")).tensors[0].tensor
        let tied = try Self.gpt2GGUF(in: scratch) { try $0.add(embedding, named: "output.weight") }
        _ = try TransformerConfig(gguf: GGUFFile(path: tied))
        let untied = try Self.gpt2GGUF(in: scratch) { try $0.add(Tensor(shape: embedding.shape, repeating: 1), named: "output.weight") }
        #expect(Self.message { _ = try MeshEngine(gguf: untied) }.contains("output.weight differs from token_embd.weight"))
    }

    /// A tokenizer GGUF cannot carry (the byte tokenizer maps bytes without a pre-tokenizer llama.cpp names) stops a
    /// conversion to GGUF before anything is written, and is copied unchanged between Hugging Face directories.
    @Test func aTokenizerGGUFCannotCarryStopsOnlyGGUFOutputs() throws {
        let scratch = try ScratchDirectory(), source = scratch.file("byte")
        try FileManager.default.copyItem(atPath: ConversionFixtures.directory("llama-tiny"), toPath: source)
        try ByteTokenizer.huggingFaceTokenizerJSON.write(toFile: source + "/tokenizer.json", atomically: true, encoding: .utf8)
        let checkpoint = try ModelCheckpoint(contentsOf: source)
        #expect(Self.message { try checkpoint.write(to: scratch.file("byte.gguf"), format: .gguf) }.contains("GGUF cannot carry it"))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("byte.gguf")))
        try checkpoint.write(to: scratch.file("half"), format: .huggingFace, dtype: .bf16)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.file("half/tokenizer.json")))
                    == Data(contentsOf: URL(fileURLWithPath: source + "/tokenizer.json")))
    }

    /// A GGUF whose tensor contradicts its metadata names the Hugging Face tensor and both shapes.
    @Test func weightsThatContradictTheMetadataAreNamed() throws {
        let scratch = try ScratchDirectory()
        let wide = try Self.gpt2GGUF(in: scratch) { $0.metadata["gpt2.feed_forward_length"] = .uint32(128) }
        #expect(throws: ModelError.shapeMismatch(file: wide, tensor: "transformer.h.0.mlp.c_fc.weight", expected: [32, 128], actual: [32, 64])) {
            _ = try MeshEngine(gguf: wide)
        }
    }
}
