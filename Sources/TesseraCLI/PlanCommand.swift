import ArgumentParser
import Foundation
import TesseraPlanner

/// `tessera plan …`: memory, GPU count and the best parallel layout for training and serving.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How many GPUs, which parallel layout, how much memory and time: for training and serving.",
        subcommands: [PlanTrain.self, PlanServe.self, PlanValidate.self, PlanList.self])
}

/// Options every plan command shares: extra catalog files.
struct CatalogOptions: ParsableArguments {
    @Option(name: .customLong("catalog"), help: "A catalog JSON file or a directory of them, adding or replacing GPUs and models (repeatable).")
    var paths: [String] = []

    /// The shipped catalog plus the user's files, in order.
    func load() throws -> Catalog {
        var catalog = try Catalog.bundled()
        for path in paths { try catalog.add(path: path) }
        return catalog
    }
}

/// `tessera plan list`: the GPUs and models the catalogs know.
struct PlanList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the GPUs and models the catalogs know.")

    @OptionGroup var catalog: CatalogOptions

    func run() throws {
        let catalog = try catalog.load()
        print(PlanText.table(
            header: ["gpu", "memory", "bandwidth", "bf16 TFLOP/s", "fp8 TFLOP/s", "per node", "intra-node", "inter-node"],
            rows: catalog.accelerators.map { a in
                [a.name, String(format: "%.0f GiB", a.memoryGiB), String(format: "%.0f GB/s", a.memoryBandwidthGBps),
                 String(format: "%g", a.peakTFLOPS["bf16"] ?? 0), a.peakTFLOPS["fp8"].map { String(format: "%g", $0) } ?? "-",
                 "\(a.devicesPerNode)", String(format: "%g GB/s", a.intraNode.bandwidthGBps),
                 String(format: "%g GB/s", a.interNode.bandwidthGBps)]
            }))
        print()
        print(PlanText.table(
            header: ["model", "parameters", "active", "layers", "hidden", "heads", "kv heads", "context"],
            rows: catalog.models.map { m in
                let a = m.architecture
                return [m.name, String(format: "%.2fB", a.totalParameters / 1e9), String(format: "%.2fB", a.activeParameters / 1e9),
                        "\(a.layers)", "\(a.hiddenSize)", "\(a.attentionHeads)", "\(a.keyValueHeads)", "\(a.maxPositions)"]
            }))
    }
}
