import ArgumentParser

@main
struct Tessera: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Train and run transformer language models split across threads, processes and machines.",
        subcommands: [Train.self, Eval.self, Generate.self, Serve.self, Bench.self, CollectiveChecks.self, Pipeline.self, Plan.self,
                      Convert.self, CheckpointCommand.self])

    /// Runs the command; a library error that names a setting is reported with this tool's flag for it.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: FlagWordedError.wording(error))
        }
    }
}

/// `tessera bench …`: benchmark programs that print a table against the machine's limits and peers.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Tessera against the machine's limits and against peers, side by side.",
        subcommands: [BenchKernels.self, BenchCollectives.self, BenchTrain.self, BenchTP.self, BenchCP.self, BenchMesh.self, BenchLoad.self, BenchTokenize.self, PlanBench.self,
                      BenchCheckpoint.self, BenchMoE.self, BenchGenerate.self, BenchServe.self])
}
