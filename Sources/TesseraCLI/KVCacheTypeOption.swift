import ArgumentParser
import TesseraParallel
import TesseraTensor

/// `--kv-cache-type` of `generate` and `serve`: how the key/value block pool stores rows.
struct KVCacheTypeOption: ParsableArguments {
    @Option(name: .customLong("kv-cache-type"), help: "How the key/value cache stores rows: f32 (exact), f16 or q8_0 (llama.cpp's --cache-type-k/v).")
    var text = "f32"

    /// The row type named by the flag.
    /// - Throws: `ValidationError` listing the types a pool stores.
    func cacheType() throws -> DType {
        guard let type = DType(rawValue: text.lowercased()), KVBlockPool.cacheTypes.contains(type) else {
            throw ValidationError("--kv-cache-type \(text) is not a cache type; use one of \(KVBlockPool.cacheTypes.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }
}
