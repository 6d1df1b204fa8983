import ArgumentParser
import TesseraParallel
import TesseraTensor

/// `--kv-cache-type` of `generate`, `serve` and `bench generate`: how the key/value block pool stores rows. F16 by
/// default, as llama.cpp's `--cache-type-k/v` and vLLM's `--kv-cache-dtype auto` (the 16-bit model type) store them;
/// F32 is the exact option.
struct KVCacheTypeOption: ParsableArguments {
    @Option(name: .customLong("kv-cache-type"),
            help: "How the key/value cache stores rows: f16 (default, as llama.cpp's --cache-type-k/v), f32 (exact) or q8_0 (a quarter of f32's bytes).")
    var text = "f16"

    /// Refuses an unknown type while the arguments are parsed, before a model is loaded.
    func validate() throws { _ = try cacheType() }

    /// The row type named by the flag.
    /// - Throws: `ValidationError` listing the types a pool stores.
    func cacheType() throws -> DType {
        guard let type = DType(rawValue: text.lowercased()), KVBlockPool.cacheTypes.contains(type) else {
            throw ValidationError("--kv-cache-type \(text) is not a cache type; use one of \(KVBlockPool.cacheTypes.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }
}
