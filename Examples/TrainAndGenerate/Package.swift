// swift-tools-version: 6.1
import PackageDescription

// An application that embeds Tessera as a library: one product, one `import Tessera`. `make example` builds and
// runs it (release, the flags of the main build) as part of `make test`.
let package = Package(
    name: "TrainAndGenerate",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, so the product reference below holds whatever the checkout's directory is called.
        .package(name: "Tessera", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "TrainAndGenerate",
            dependencies: [.product(name: "Tessera", package: "Tessera")]),
    ],
    swiftLanguageModes: [.v6]
)
