import Foundation
import Testing
import TesseraPlanner

/// Writes `text` to a fresh temporary directory and returns the file's path.
func temporaryFile(_ name: String, _ text: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-planner-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let url = directory.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

@Suite struct CatalogTests {
    let catalog = try! Catalog.bundled()

    @Test func shipsTheRequiredAcceleratorsWithSources() throws {
        for name in ["A100-40GB", "A100-80GB", "H100-SXM", "H200", "B200", "L40S", "cpu-2core"] {
            let a = try catalog.accelerator(named: name)
            for field in ["memory_gib", "memory_bandwidth_gbps", "peak_tflops", "intra_node", "inter_node", "devices_per_node"] {
                #expect(!(a.sources[field] ?? "").isEmpty, "\(name) has no source for \(field)")
            }
            for format in ["fp32", "bf16", "fp16"] { #expect(a.peakTFLOPS[format] != nil, "\(name) lacks \(format)") }
        }
        #expect(try catalog.accelerator(named: "h100").peakFLOPS(.fp8) == 1979e12)
        // A100 has no FP8 units: FP8 runs at the BF16 rate.
        #expect(try catalog.accelerator(named: "a100").peakFLOPS(.fp8) == 312e12)
        #expect(try catalog.accelerator(named: "A100-40gb").memoryBytes == 40 * 1_073_741_824)
    }

    /// Parameter counts against the published sizes (model cards and papers).
    @Test(arguments: [
        ("gpt2", 124.44e6), ("gpt2-medium", 354.8e6), ("gpt2-large", 774.0e6), ("gpt2-xl", 1557.6e6),
        ("gpt3-175b", 174.6e9), ("llama-2-7b", 6.738e9), ("llama-2-13b", 13.016e9), ("llama-2-70b", 68.977e9),
        ("llama-3-8b", 8.030e9), ("llama-3-70b", 70.554e9), ("llama-3-405b", 405.85e9), ("mixtral-8x7b", 46.70e9),
        ("mixtral-8x22b", 141e9), ("qwen3-30b-a3b", 30.5e9), ("deepseek-v3", 671.0e9), ("smollm2-135m", 134.5e6), ("smollm2-360m", 361.8e6), ("smollm2-1.7b", 1.711e9),
    ])
    func parameterCountsMatchPublishedSizes(name: String, published: Double) throws {
        let model = try catalog.model(named: name)
        #expect(abs(model.totalParameters / published - 1) < 0.005, "\(name): \(model.totalParameters)")
    }

    /// Active parameters per token: Mixtral 12.9B and 8x22B 39B (Mistral AI), Qwen3-30B-A3B 3.3B (its model card),
    /// DeepSeek-V3 37B (technical report).
    @Test func activeParametersOfMixtures() throws {
        #expect(abs(try catalog.model(named: "mixtral-8x7b").activeParameters / 12.9e9 - 1) < 0.01)
        #expect(abs(try catalog.model(named: "mixtral-8x22b").activeParameters / 39e9 - 1) < 0.01)
        #expect(abs(try catalog.model(named: "qwen3-30b-a3b").activeParameters / 3.3e9 - 1) < 0.02)
        #expect(abs(try catalog.model(named: "deepseek-v3").activeParameters / 37e9 - 1) < 0.02)
        #expect(try catalog.model(named: "llama-3-8b").activeParameters == catalog.model(named: "llama-3-8b").totalParameters)
    }

    @Test func userCatalogAddsAndReplacesEntries() throws {
        let path = try temporaryFile("mine.json", """
            {"accelerators": [{"name": "MyGPU", "memory_gib": 96, "memory_bandwidth_gbps": 4000,
              "peak_tflops": {"bf16": 1000}, "intra_node": {"kind": "x", "bandwidth_gbps": 400, "latency_us": 5},
              "inter_node": {"kind": "y", "bandwidth_gbps": 50, "latency_us": 7}, "devices_per_node": 4}],
             "models": [{"name": "gpt2", "config": {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
              "n_positions": 128, "vocab_size": 1000}}]}
            """)
        var extended = catalog
        try extended.add(path: path)
        #expect(try extended.accelerator(named: "mygpu").memoryGiB == 96)
        #expect(try extended.model(named: "gpt2").hiddenSize == 64)  // replaced
        #expect(extended.models.count == catalog.models.count)
        // A directory works too.
        var fromDirectory = Catalog()
        try fromDirectory.add(path: (path as NSString).deletingLastPathComponent)
        #expect(fromDirectory.accelerators.map(\.name) == ["MyGPU"])
    }

    @Test func catalogEntryErrorsNameTheFieldAndFile() throws {
        let missing = try temporaryFile("bad.json", """
            {"accelerators": [{"name": "NoMemory", "memory_bandwidth_gbps": 1, "peak_tflops": {"bf16": 1},
              "intra_node": {"kind": "x", "bandwidth_gbps": 1, "latency_us": 1},
              "inter_node": {"kind": "y", "bandwidth_gbps": 1, "latency_us": 1}, "devices_per_node": 1}]}
            """)
        var catalog = Catalog()
        #expect(throws: PlannerError.missingConfigField(field: "accelerators.Index 0.memory_gib", path: missing)) {
            try catalog.add(path: missing)
        }
        let negative = try temporaryFile("neg.json", """
            {"accelerators": [{"name": "Neg", "memory_gib": -1, "memory_bandwidth_gbps": 1, "peak_tflops": {"bf16": 1},
              "intra_node": {"kind": "x", "bandwidth_gbps": 1, "latency_us": 1},
              "inter_node": {"kind": "y", "bandwidth_gbps": 1, "latency_us": 1}, "devices_per_node": 1}]}
            """)
        do {
            try catalog.add(path: negative)
            Issue.record("a negative memory size was accepted")
        } catch let error as PlannerError {
            #expect(error.description.contains("Neg.memory_gib") && error.description.contains(negative))
        }
        let notJSON = try temporaryFile("junk.json", "{not json")
        #expect(throws: PlannerError.self) { try catalog.add(path: notJSON) }
        #expect(throws: PlannerError.unreadableFile(path: "/no/such/catalog.json", reason: "no such file or directory")) {
            try catalog.add(path: "/no/such/catalog.json")
        }
    }
}
