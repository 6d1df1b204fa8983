import ArgumentParser
import TesseraBench

/// `tessera bench train`: the flags of ``TrainBench``.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training throughput against PyTorch and against cblas_sgemm (GPT-2 small, 4 × 256 tokens, fp32, AdamW).")

    @OptionGroup var shape: BenchShapeOptions

    @Option(help: "Threads for both sides (OpenBLAS for Tessera, torch.set_num_threads for PyTorch).")
    var threads = 2

    @Option(help: "Python interpreter for the PyTorch peer.")
    var python = "python3"

    @Option(name: .customLong("peer-script"), help: "The PyTorch peer.")
    var peerScript = "scripts/bench_pytorch_train.py"

    @Flag(name: .customLong("no-peer"), help: "Skip the PyTorch peer.")
    var noPeer = false

    @Option(help: "Also run Tessera data-parallel on the same cores: this many thread ranks × threads/dp BLAS threads each (1 skips it).")
    var dp = 2

    func run() throws {
        let shape = try self.shape.shape()
        guard dp >= 1, threads % dp == 0, shape.batch % dp == 0 else {
            throw ValidationError("--dp \(dp) must divide both --threads \(threads) and --batch \(shape.batch) (each rank gets threads/dp BLAS threads and batch/dp sequences); use --dp 1 to skip the data-parallel run")
        }
        let options = self.shape, python = python, peerScript = peerScript, threads = threads
        let peer: (() throws -> PyTorchPeer)? = noPeer ? nil : {
            do {
                return try PyTorchPeer.run(python: python, script: peerScript, threads: threads, shape: shape, layers: options.layers,
                                           warmup: options.warmup, steps: options.steps, progress: Console.log)
            } catch BenchError.missingPeerScript(let path) {
                throw ValidationError("\(path): the PyTorch peer script is missing; run from the repository root, pass --peer-script PATH, or use --no-peer")
            } catch let error as BenchError {
                throw ValidationError("\(error) or use --no-peer")
            }
        }
        let result = try TrainBench.measure(shape, configName: options.config, layers: options.layers, threads: threads, dp: dp,
                                            warmup: options.warmup, steps: options.steps, peer: peer, progress: Console.log)
        print(result.lines.joined(separator: "\n"))
        if let json = options.json { try BenchJSON.write(result.json, to: json) }
    }
}
