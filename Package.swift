// swift-tools-version: 6.1
import PackageDescription

// Layering: each target imports only targets listed before it.
//   CBLAS, CMPI               C interop (system libraries with shim headers)
//   CIntrinsics               compiler builtins Swift cannot spell (cache prefetch, AVX2 quantized dot products, CRC-32C), as inline C
//   TesseraFiles              atomic file writes, CRC-32C (only CIntrinsics below it, so every layer can write files)
//   TesseraTensor             tensors, dtypes, kernels, deterministic RNG
//   TesseraCollectives        Communicator, threads backend, launchers, DeviceMesh, ProcessGroups
//   TesseraMPI                the Open MPI backend (the only target that links libmpi; only the CLI uses it)
//   TesseraFormats            safetensors, GGUF, tokenizers
//   TesseraNN                 single-device layers with explicit forward/backward, AdamW, schedules
//   TesseraPipeline           pipeline schedules as data, simulator, timeline pictures (pure, no compute)
//   TesseraParallel           conjugate mappings, tensor/sequence/pipeline/data-parallel machinery
//   TesseraModels             model families described once (ModelFamily), models, checkpoint loading and saving
//   TesseraTrain              training loop, data, evaluation, generation
//   TesseraPlanner            memory/time model and layout search (a model Tessera builds: from its TransformerConfig)
//   TesseraBench              measurement code of `tessera bench` (paired timing, bandwidth, peak memory, peers, reports)
//   Tessera                   the umbrella module (`import Tessera`): re-exports the library targets from TesseraTensor
//                             to TesseraPlanner (not TesseraMPI, not TesseraBench)
//   TesseraServe              OpenAI-compatible HTTP server: request scheduler, decode backend, Hummingbird front end
//   tessera                   the command-line tool
let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tessera", targets: ["TesseraCLI"]),
        .library(name: "Tessera", targets: ["Tessera"]),
        .library(name: "TesseraMPI", targets: ["TesseraMPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CIntrinsics"),
        .target(name: "TesseraFiles", dependencies: ["CIntrinsics"]),
        .target(name: "TesseraTensor", dependencies: ["CBLAS", "CIntrinsics"]),
        .target(name: "TesseraCollectives", dependencies: ["CIntrinsics", "TesseraTensor"]),
        .target(name: "TesseraMPI", dependencies: ["CMPI", "TesseraCollectives"]),
        .target(name: "TesseraFormats", dependencies: ["TesseraFiles", "TesseraTensor"]),
        .target(name: "TesseraNN", dependencies: ["TesseraTensor"]),
        .target(name: "TesseraPipeline", dependencies: ["TesseraFiles"]),
        .target(name: "TesseraParallel", dependencies: ["TesseraNN", "TesseraCollectives", "TesseraPipeline"]),
        .target(name: "TesseraModels", dependencies: ["TesseraParallel", "TesseraFormats"]),
        .target(name: "TesseraTrain", dependencies: ["TesseraModels"]),
        .target(name: "TesseraPlanner", dependencies: ["TesseraPipeline", "TesseraModels"], resources: [.copy("Catalog")]),
        .target(name: "TesseraBench", dependencies: ["CBLAS", "TesseraTrain", "TesseraPlanner"]),
        .target(
            name: "Tessera",
            dependencies: [
                "TesseraTensor", "TesseraCollectives", "TesseraFormats", "TesseraNN", "TesseraPipeline",
                "TesseraParallel", "TesseraModels", "TesseraTrain", "TesseraPlanner",
            ]),
        .target(
            name: "TesseraServe",
            dependencies: [
                "TesseraTrain",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The command-line tool. Its product (and binary) is `tessera`; the target has its own name so that its source
        // directory does not collide with `Sources/Tessera` on case-insensitive file systems (macOS).
        .executableTarget(
            name: "TesseraCLI",
            dependencies: [
                "CBLAS", "TesseraMPI", "TesseraTrain", "TesseraPlanner", "TesseraPipeline", "TesseraBench", "TesseraServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "TesseraTensorTests", dependencies: ["TesseraTensor"]),
        .testTarget(name: "TesseraCollectivesTests", dependencies: ["TesseraCollectives"]),
        .testTarget(name: "TesseraFormatsTests", dependencies: ["TesseraFormats"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraNNTests", dependencies: ["TesseraNN"]),
        .testTarget(name: "TesseraPipelineTests", dependencies: ["TesseraPipeline"]),
        .testTarget(name: "TesseraParallelTests", dependencies: ["TesseraParallel"]),
        .testTarget(name: "TesseraModelsTests", dependencies: ["TesseraModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraTrainTests", dependencies: ["TesseraTrain"]),
        .testTarget(name: "TesseraPlannerTests", dependencies: ["TesseraPlanner", "TesseraPipeline", "TesseraModels"]),
        .testTarget(name: "TesseraBenchTests", dependencies: ["TesseraBench", "TesseraModels", "TesseraParallel"]),
        .testTarget(name: "TesseraServeTests", dependencies: ["TesseraServe"]),
    ],
    swiftLanguageModes: [.v6]
)
