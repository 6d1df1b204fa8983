import Foundation
import TesseraTensor

/// A fresh temporary directory per test, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "tessera-formats-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let target = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }

    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}

/// Deterministic test values: `count` elements of a standard normal drawn for `name`.
func sampleTensor(_ shape: [Int], _ name: String) -> Tensor {
    let rng = DeterministicRandom(seed: 11, stream: name)
    let count = shape.reduce(1, *)
    return try! Tensor(shape: shape, scalars: (0..<count).map { rng.normal(at: $0) })
}

/// Elements `range` of dimension `dimension` of a row-major tensor, computed naively (the reference for slices).
func naiveSlice(_ tensor: Tensor, _ range: Range<Int>, alongDimension dimension: Int) -> Tensor {
    let shape = tensor.shape
    let outer = shape[..<dimension].reduce(1, *)
    let inner = shape[(dimension + 1)...].reduce(1, *)
    var values: [Float] = []
    for o in 0..<outer {
        for i in range {
            for k in 0..<inner { values.append(tensor[flat: (o * shape[dimension] + i) * inner + k]) }
        }
    }
    var newShape = shape
    newShape[dimension] = range.count
    return try! Tensor(shape: newShape, scalars: values)
}

/// Where the package's committed fixtures and fetched assets live.
enum Locations {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    /// The repository root, found from this source file (assets in `data/` and `models/` are fetched by `make assets`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let gpt2 = root + "/data/gpt2"
    static let smolLM2 = root + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    static var hasGPT2: Bool { FileManager.default.fileExists(atPath: gpt2 + "/encoder.json") }
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: smolLM2) }
}
