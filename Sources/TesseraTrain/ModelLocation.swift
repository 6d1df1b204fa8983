import Foundation
import TesseraCollectives
import TesseraFormats
import TesseraModels
import TesseraParallel
import TesseraNN
import TesseraTensor

/// A model on disk, as `--model` and `--init` name it: a Hugging Face directory (`config.json` + safetensors +
/// tokenizer files) or a GGUF file. Both load the same way, each rank reading only its slices.
public struct ModelLocation: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable {
        case huggingFace, gguf
    }

    public let path: String
    public let format: Format

    /// Recognizes the format.
    /// - Throws: ``TrainingError/invalidModel(path:reason:)`` naming what is missing.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidModel(path: path, reason: "no such file or directory")
        }
        self.path = path
        if isDirectory.boolValue {
            guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json")) else {
                throw TrainingError.invalidModel(path: path, reason: "the directory has no config.json")
            }
            format = .huggingFace
        } else {
            let magic = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 4) }
            guard magic == Data("GGUF".utf8) else {
                throw TrainingError.invalidModel(path: path, reason: "the file is not GGUF (it does not start with the magic \"GGUF\")")
            }
            format = .gguf
        }
    }

    /// The model's architecture.
    /// - Throws: ``ModelError`` for an invalid or unsupported configuration; format errors for damaged files.
    public func config() throws -> TransformerConfig {
        switch format {
        case .huggingFace: return try TransformerConfig(contentsOf: path)
        case .gguf: return try TransformerConfig(gguf: GGUFFile(path: path))
        }
    }

    /// Builds this rank's engine with the checkpoint's weights, split over `parallel`'s layout (default: the mesh of
    /// `groups`, which are built over the layout's mesh; `nil` on one device), its kernels on `computeThreads`
    /// threads (the rank's share of the cores). A GGUF file's matrices stay in their stored type unless `weights`
    /// is ``WeightFormat/float32`` (see ``MeshEngine/init(gguf:parallel:groups:optimizer:backend:weights:)``);
    /// a Hugging Face directory always loads as Float32.
    /// - Throws: ``ModelError`` when the weights contradict the configuration; ``ParallelConfigError`` when the model
    ///   does not split over the layout; format errors for damaged files.
    public func makeEngine(parallel: ParallelConfig? = nil, groups: ProcessGroups?,
                           optimizer: AdamWConfiguration = AdamWConfiguration(), computeThreads: Int = 1,
                           weights: WeightFormat = .stored) throws -> MeshEngine {
        let backend = CPUBackend(pool: ComputePool(threads: computeThreads))
        switch format {
        case .huggingFace:
            return try MeshEngine(checkpoint: path, parallel: parallel, groups: groups, optimizer: optimizer, backend: backend)
        case .gguf:
            return try MeshEngine(gguf: path, parallel: parallel, groups: groups, optimizer: optimizer, backend: backend, weights: weights)
        }
    }

    /// Replaces every value of `model` (one rank's part, any layout) with its slice of the checkpoint, reading
    /// only that slice.
    /// - Throws: ``ModelError`` when the weights contradict the configuration; format errors for damaged files.
    public func loadWeights(into model: Transformer) throws {
        switch format {
        case .huggingFace: try model.load(from: SafeTensorsCheckpoint(path: path))
        case .gguf: try model.load(fromGGUF: GGUFFile(path: path))
        }
    }

    /// The tokenizer the model carries.
    public func tokenizer() throws -> TokenizerChoice { try TokenizerChoice.ofModel(self) }
}
