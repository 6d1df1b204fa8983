import ArgumentParser
import Foundation
import TesseraModels
import TesseraTensor

/// Where and how `convert` and `checkpoint export` write a model: the output's name picks the format.
struct ModelOutputOptions: ParsableArguments {
    @Argument(help: "The output: a path ending in .gguf, or a directory for Hugging Face files.")
    var output: String

    @Option(help: "Element type of the written weights: f32, f16, bf16 (both formats) or q8_0, q4_0, q4_1 (GGUF only).")
    var dtype: String = "f32"

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    /// The format the output's name asks for.
    var format: ModelCheckpoint.Format { ModelCheckpoint.Format(path: output) }

    func validate() throws {
        let allowed = ModelCheckpoint.dtypes(for: format).map(\.rawValue)
        guard allowed.contains(dtype) else {
            throw ValidationError("--dtype \(dtype) cannot be written to \(format == .gguf ? "GGUF" : "a Hugging Face directory"); use one of \(allowed.joined(separator: ", "))")
        }
    }

    /// Writes `checkpoint` to the output (atomically; an existing output only with --force).
    func write(_ checkpoint: ModelCheckpoint) throws {
        try checkpoint.write(to: output, format: format, dtype: DType(rawValue: dtype)!, replacing: force)
    }
}
