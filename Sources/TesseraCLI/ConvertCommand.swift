import ArgumentParser
import Foundation
import TesseraModels
import TesseraTensor

/// `tessera convert IN OUT`: a model between a GGUF file and a Hugging Face directory, in either direction,
/// with its configuration and tokenizer (``ModelCheckpoint``).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model between a GGUF file and a Hugging Face safetensors directory.",
        discussion: """
            The output's format follows its name: a path ending in .gguf is written as one GGUF file (llama.cpp's \
            layout), any other path as a Hugging Face directory (config.json, model.safetensors, tokenizer files). \
            Architectures: \(TransformerConfig.ggufArchitectures.joined(separator: ", ")). The output is written atomically and an \
            existing one is replaced only with --force.

            Example: tessera convert models/SmolLM2-135M-Instruct.Q4_1.gguf runs/smollm2-hf --dtype f16
            """)

    @Argument(help: "The input: a .gguf file or a Hugging Face directory.")
    var input: String

    @OptionGroup var target: ModelOutputOptions

    func validate() throws {
        guard (input as NSString).standardizingPath != (target.output as NSString).standardizingPath else {
            throw ValidationError("IN and OUT are the same path; write the conversion elsewhere")
        }
    }

    func run() throws {
        let start = ContinuousClock.now
        let checkpoint = try ModelCheckpoint(contentsOf: input)
        let format = target.format, output = target.output, dtype = target.dtype
        try target.write(checkpoint)
        let config = checkpoint.config
        let parameters = checkpoint.tensors.reduce(0) { $0 + $1.tensor.count }
        let tokenizer = switch checkpoint.tokenizer {
        case let .definition(definition): "tokenizer of \(definition.tokens.count) tokens (\(definition.preTokenizer))"
        case .huggingFaceFiles: "tokenizer files"
        case nil: "no tokenizer"
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        print("""
            \(input) → \(output) (\(format == .gguf ? "GGUF" : "Hugging Face directory"), \(dtype)): \(config.family.name), \
            \(config.layers) layers, \(parameters) parameters, \(tokenizer), \
            \(String(format: "%.1f", seconds)) s
            """)
    }
}
