import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraModels
import TesseraTrain

/// `tessera train`: trains a model on a text file on threads or MPI ranks.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a UTF-8 text file, on in-process threads or mpirun processes.",
        discussion: """
            Sequence i of step s (both from 0) reads ids[(s·G + i)·T ..< (s·G + i)·T + T] with targets one id later, \
            wrapping at the end of the text; the loss is the mean over all G·T targets, whatever the layout.
            """)

    @OptionGroup(title: "Model") var model: TrainModelOptions
    @OptionGroup(title: "Data") var data: TrainDataOptions
    @OptionGroup(title: "Batch") var batch: TrainBatchOptions
    @OptionGroup(title: "Optimizer") var optimizer: TrainOptimizerOptions
    @OptionGroup(title: "Parallelism") var parallel: TrainParallelOptions
    @OptionGroup(title: "Launch") var launch: LaunchArguments
    @OptionGroup(title: "Output") var output: TrainOutputOptions

    /// The run the flags describe.
    func makeConfiguration() -> TrainingConfiguration {
        var c = TrainingConfiguration(data: .init(path: data.data))
        model.apply(to: &c)
        data.apply(to: &c)
        batch.apply(to: &c)
        optimizer.apply(to: &c)
        parallel.apply(to: &c)
        output.apply(to: &c)
        return c
    }

    func run() throws {
        let configuration = makeConfiguration()
        let ranks = try parallel.launchRanks(for: configuration)
        let job = try TrainingJob(configuration: configuration)
        let options = try launch.options(ranks: ranks)
        let style: ProgressDisplay.Style = isatty(STDOUT_FILENO) == 1 ? .bar(width: 30) : .plain
        _ = try Launcher.run(options) { world in try Self.train(job, world: world, backend: options.backend, style: style) }
    }

    /// One rank's run; world rank 0 prints and writes the metrics.
    static func train(_ job: TrainingJob, world: any Communicator, backend: Backend, style: ProgressDisplay.Style) throws {
        let c = job.configuration
        let reporting = world.rank == 0
        func say(_ line: String) {
            if reporting { Console.write(line + "\n") }
        }
        job.notes.forEach(say)
        let trainer = try job.makeTrainer(world: world)
        let m = job.modelConfig
        say("model: \(job.initialCheckpoint?.path ?? c.model.config) (\(m.architecture.rawValue), \(m.parameterCount) parameters,"
            + " \(m.layers) layers, hidden \(m.hiddenSize), vocabulary \(m.vocabularySize))")
        say("layout: tp=\(c.parallelism.tensorParallel)\(c.parallelism.sequenceParallel ? " with sequence parallelism" : "")"
            + " on \(world.size) rank(s), \(backend) backend")
        say("batch: \(c.batch.globalBatchSize) × \(c.data.sequenceLength) = \(c.batch.globalBatchSize * c.data.sequenceLength) tokens per step,"
            + " micro-batch \(c.batch.microBatchSize) (\(trainer.layout.microBatchesPerRank) per step per rank);"
            + " \(c.steps) steps, lr \(c.optimizer.learningRate) \(c.optimizer.schedule.rawValue)")
        // Activations predicted from the micro-batch shape (equal to what a step saves); every rank joins the gather.
        let predicted = trainer.engine.memory(forMicroBatchOf: c.batch.microBatchSize, length: c.data.sequenceLength)
        let memory = try MemorySummary.gather(predicted, world: world)
        say("memory per rank (activations saved for the backward pass of one micro-batch):")
        MemorySummary.lines(memory).forEach { say("  " + $0) }
        let writer = try reporting ? c.output.metricsPath.map(MetricsWriter.init(path:)) : nil
        let display = ProgressDisplay(style: style, totalSteps: c.steps)
        var last: StepMetrics?
        var rates: [Double] = []
        for step in 1...c.steps {
            let metrics = try trainer.step(step)
            if reporting {
                try writer?.append(metrics)
                Console.write(display.update(metrics))
            }
            if step > 1 { rates.append(metrics.tokensPerSecond) }
            last = metrics
        }
        if reporting { Console.write(display.finish()) }
        if let last {
            let rate = rates.isEmpty ? last.tokensPerSecond : rates.reduce(0, +) / Double(rates.count)
            say("done: \(c.steps) steps in \(String(format: "%.1f", last.elapsedSeconds)) s, final loss \(String(format: "%.4f", last.loss)),"
                + " \(String(format: "%.0f", rate)) tokens/s (mean after step 1)")
        }
        if let directory = c.output.saveDirectory {
            try job.save(trainer.engine, toDirectory: directory, world: world)
            say("saved \(directory)")
        }
    }
}
