import Foundation
import TesseraFormats
import TesseraTensor

extension ModelCheckpoint {
    /// The element types each format stores: safetensors F32/F16/BF16; GGUF also the ggml blocks.
    public static func dtypes(for format: Format) -> [DType] {
        // The K-quants and Q5_0 are read, not written: their quality depends on llama.cpp's importance-weighted
        // quantizer, which Tessera does not reproduce.
        format == .gguf ? [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1] : [.f32, .f16, .bf16]
    }

    /// Writes the checkpoint as `format` at `path`, atomically: a GGUF file through a temporary file renamed into
    /// place, a Hugging Face directory written whole beside `path` and then renamed into place (an existing
    /// directory is moved aside first and removed after), so `path` never holds a partial checkpoint.
    ///
    /// - GGUF: llama.cpp's layout (``GGUFTensorLayout``: names, GPT-2 transposes, Llama's rotary row permutation),
    ///   the configuration as ``TransformerConfig/ggufMetadata``, the tokenizer as `tokenizer.ggml.*` padded to the
    ///   vocabulary, `general.file_type`. Matrices are stored as `dtype`; vectors (norms, biases) stay F32, and a
    ///   matrix whose rows are not whole blocks of a block `dtype` is stored F16, as llama.cpp's converter does.
    /// - Hugging Face: `config.json` (with `torch_dtype`), `model.safetensors` in `dtype`, the tokenizer files.
    /// - Parameter replacing: whether an existing `path` may be replaced.
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` when `path` exists and `replacing` is false, or `dtype`
    ///   is not one the format stores; ``FormatError`` for a tokenizer GGUF cannot carry or when writing fails
    ///   (nothing at `path` changes).
    public func write(to path: String, format: Format, dtype: DType = .f32, replacing: Bool = false) throws {
        guard Self.dtypes(for: format).contains(dtype) else {
            let names = Self.dtypes(for: format).map(\.rawValue).joined(separator: ", ")
            throw ModelError.invalidFile(path: path, reason: "\(format == .gguf ? "GGUF" : "safetensors") cannot store \(dtype); use one of \(names)")
        }
        if FileManager.default.fileExists(atPath: path), !replacing {
            throw ModelError.fileExists(path: path)
        }
        switch format {
        case .gguf: try writeGGUF(to: path, dtype: dtype)
        case .huggingFace: try writeHuggingFaceDirectory(to: path, dtype: dtype)
        }
    }

    private func writeGGUF(to path: String, dtype: DType) throws {
        if FileManager.default.fileExists(atPath: path), (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeDirectory {
            throw ModelError.invalidFile(path: path, reason: "is a directory; a GGUF output is one file")
        }
        var writer = GGUFWriter()
        // llama_ftype (llama.h): the type most tensors have.
        let fileTypes: [DType: UInt32] = [.f32: 0, .f16: 1, .q4_0: 2, .q4_1: 3, .q8_0: 7, .bf16: 32]
        var metadata = config.ggufMetadata
        metadata.insert(("general.file_type", .uint32(fileTypes[dtype]!)), at: 1)
        if let tokenizer {
            metadata += try tokenizer.definition().padded(toVocabularySize: config.vocabularySize).ggufMetadata
        } else {
            for (key, id) in [("bos_token_id", config.bosTokenId), ("eos_token_id", config.eosTokenId)] {
                if let id { metadata.append(("tokenizer.ggml.\(key)", .uint32(UInt32(id)))) }
            }
        }
        for (key, value) in metadata { writer.metadata[key] = value }
        // Routed experts are stacked into one tensor per layer and projection once all of its experts have arrived.
        var experts: [String: [Int: Tensor]] = [:]
        for (name, tensor) in tensors {
            let layout = config.ggufLayout(of: name)
            let stored: Tensor
            switch layout.transform {
            case .none: stored = tensor
            case .transposed: stored = try tensor.transposedMatrix()
            case let .rotaryPermuted(heads): stored = try RotaryPermutation.permute(tensor, heads: heads)
            case let .stackedExpert(index, count):
                experts[layout.name, default: [:]][index] = tensor
                guard experts[layout.name]?.count == count, let all = experts.removeValue(forKey: layout.name) else { continue }
                stored = try Tensor(shape: [count] + tensor.shape, scalars: (0..<count).flatMap { all[$0]!.scalars })
            }
            let rowsFit = (stored.shape.last ?? 1) % dtype.blockSize == 0
            let type: DType = stored.shape.count < 2 ? .f32 : rowsFit ? dtype : .f16
            try writer.add(stored, named: layout.name, as: type)
        }
        try writer.write(to: path)
    }

    private func writeHuggingFaceDirectory(to path: String, dtype: DType) throws {
        let parent = (path as NSString).deletingLastPathComponent
        let staging = (parent.isEmpty ? "." : parent) + "/.\((path as NSString).lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        var writer = SafeTensorsWriter()
        let stored: SafeTensorsDType = switch dtype {
        case .f16: .f16
        case .bf16: .bf16
        default: .f32
        }
        for (name, tensor) in tensors { try writer.add(tensor, named: name, as: stored) }
        try writer.write(toDirectory: staging)
        try config.writeHuggingFaceConfig(toDirectory: staging, torchDType: stored.torchName)
        try tokenizer?.writeHuggingFaceFiles(toDirectory: staging)
        try Self.moveIntoPlace(staging, at: path)
    }

    /// Renames the finished directory `staging` to `path`, moving an existing `path` aside first and removing it after.
    private static func moveIntoPlace(_ staging: String, at path: String) throws {
        let manager = FileManager.default
        let aside = staging + ".replaced"
        let replacing = manager.fileExists(atPath: path)
        do {
            if replacing { try manager.moveItem(atPath: path, toPath: aside) }
            do {
                try manager.moveItem(atPath: staging, toPath: path)
            } catch {
                if replacing { try? manager.moveItem(atPath: aside, toPath: path) }
                throw error
            }
        } catch {
            throw ModelError.invalidFile(path: path, reason: "cannot move the converted checkpoint into place: \(error.localizedDescription)")
        }
        if replacing { try? manager.removeItem(atPath: aside) }
    }
}

extension SafeTensorsDType {
    /// The `torch_dtype` name transformers writes in `config.json`.
    var torchName: String {
        switch self {
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        default: return "float32"
        }
    }
}
