import ArgumentParser
import Foundation
import TesseraCollectives
import TesseraModels
import TesseraPipeline
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
    @OptionGroup(title: "Checkpoints") var checkpoints: TrainCheckpointOptions

    /// The run the flags describe.
    /// - Throws: ``ParallelConfigError`` for an invalid layout.
    func makeConfiguration() throws -> TrainingConfiguration {
        var c = TrainingConfiguration(data: .init(path: data.data))
        model.apply(to: &c)
        data.apply(to: &c)
        batch.apply(to: &c)
        optimizer.apply(to: &c)
        try parallel.apply(to: &c)
        output.apply(to: &c)
        checkpoints.apply(to: &c)
        return c
    }

    func run() throws {
        let configuration = try makeConfiguration()
        let ranks = try parallel.launchRanks(for: configuration)
        let job = try TrainingJob(configuration: configuration)
        let launcher = try launch.launcher()
        let style: ProgressDisplay.Style = isatty(STDOUT_FILENO) == 1 ? .bar(width: 30) : .plain
        // Thread ranks share one recorder (one clock); each MPI process starts its own after a barrier.
        let sharedRecorder = launcher.hostsAllRanks && configuration.output.tracePath != nil ? PipelineTraceRecorder() : nil
        let backend = launcher.name
        _ = try launcher.run(launch.options(ranks: ranks)) { world, computeThreads in
            try Self.train(job, world: world, computeThreads: computeThreads, backend: backend, style: style,
                           sharedRecorder: sharedRecorder)
        }
    }

    /// One rank's run; world rank 0 prints and writes the metrics and the trace.
    static func train(_ job: TrainingJob, world unmetered: any Communicator, computeThreads: Int, backend: String,
                      style: ProgressDisplay.Style,
                      sharedRecorder: PipelineTraceRecorder?) throws {
        let c = job.configuration
        let meter = CommunicationMeter()
        let world = MeteredCommunicator(unmetered, meter: meter)
        let reporting = world.rank == 0
        func say(_ line: String) {
            if reporting { Console.write(line + "\n") }
        }
        job.notes.forEach { say($0.worded(.flags)) }
        let trainer = try job.makeTrainer(world: world, computeThreads: computeThreads)
        trainer.meter = meter
        trainer.peakFlopsPerSecond = try MatmulRate.measure(world: unmetered)
        if c.output.tracePath != nil {
            try unmetered.barrier()
            trainer.recorder = sharedRecorder ?? PipelineTraceRecorder()
        }
        let m = job.modelConfig
        say("model: \(job.initialCheckpoint?.path ?? c.model.config) (\(m.family.name), \(m.parameterCount) parameters,"
            + " \(m.layers) layers, hidden \(m.hiddenSize), vocabulary \(m.vocabularySize))")
        let p = c.parallelism, perStep = trainer.layout.microBatchesPerRank
        say("layout: \(p.ranks) rank(s) on the \(backend) backend: dp=\(p.dp) × pp=\(p.pp) × tp=\(p.tp)"
            + (p.cp > 1 ? " × cp=\(p.cp) (\(p.contextCommunication) attention)" : "")
            + (p.sequenceParallel ? " with sequence parallelism" : "")
            + (p.pp > 1 ? ", \(p.pipeline.schedule.rawValue) schedule" + (p.pipeline.virtualStages > 1 ? " with \(p.pipeline.virtualStages) virtual stages" : "")
                + ", layers per stage \(trainer.engine.partition.layout)" : "")
            + (p.memory.recompute != .none ? ", \(p.memory.recompute) recomputation" : "") + (p.memory.zeroStage > 0 ? ", ZeRO-\(p.memory.zeroStage)" : ""))
        say("batch: \(c.batch.globalBatchSize) × \(c.data.sequenceLength) = \(c.batch.globalBatchSize * c.data.sequenceLength) tokens per step,"
            + " micro-batch \(p.microBatchSize) (\(perStep) per step per pipeline); \(c.steps) steps, lr \(c.optimizer.learningRate) \(c.optimizer.schedule.rawValue)")
        if p.pp > 1 && perStep < p.pp {
            say("note: \(perStep) micro-batch(es) on \(p.pp) stages leave most of each step idle (bubble (p−1)/(m+p−1)); use a smaller --micro-batch-size")
        }
        say("cblas_sgemm rate of all ranks together: \(String(format: "%.1f", trainer.peakFlopsPerSecond! / 1e9)) GFLOP/s (MFU is taken against it)")
        // Activations predicted from the micro-batch shape and the schedule (equal to what a step holds at its peak).
        let predicted = try trainer.engine.memory(forMicroBatchOf: p.microBatchSize, length: c.data.sequenceLength, microBatches: perStep)
        let memory = try MemorySummary.gather(predicted, world: world)
        say("memory per rank (activations: the most the micro-batches in flight hold at once):")
        MemorySummary.lines(memory).forEach { say("  " + $0) }
        let writer = try reporting ? c.output.metricsPath.map(MetricsWriter.init(path:)) : nil
        let display = ProgressDisplay(style: style, totalSteps: c.steps)
        var last: StepMetrics?
        var rates: [Double] = []
        let first = trainer.nextStep, saves = CheckpointSaves(job: job)
        defer { saves.joinSaveInFlight() }
        var stepSeconds: [Double] = []
        for step in stride(from: first, through: c.steps, by: 1) {
            let metrics = try trainer.step(step)
            if reporting {
                try writer?.append(metrics)
                Console.write(display.update(metrics))
            }
            if step > first { rates.append(metrics.tokensPerSecond) }
            last = metrics
            stepSeconds.append(metrics.stepSeconds)
            try saves.afterStep(step, trainer: trainer)
        }
        if let line = try saves.finish(meanStepSeconds: stepSeconds.reduce(0, +) / Double(max(1, stepSeconds.count)), engine: trainer.engine) { say(line) }
        if reporting { Console.write(display.finish()) }
        if let last {
            let rate = rates.isEmpty ? last.tokensPerSecond : rates.reduce(0, +) / Double(rates.count)
            say("done: \(c.steps - first + 1) steps in \(String(format: "%.1f", last.elapsedSeconds)) s, final loss \(String(format: "%.4f", last.loss)),"
                + " \(String(format: "%.0f", rate)) tokens/s (mean after the first step)")
        }
        if let path = c.output.tracePath, let recorder = trainer.recorder,
           let trace = try TraceCollection.gather(recorder, world: unmetered, shared: sharedRecorder != nil) {
            try trace.write(to: path)
            say("trace: \(path) (draw it: tessera pipeline draw \(path) --svg timeline.svg" + (p.pp > 1 ? " --schedule \(p.pipeline.schedule.rawValue)" : "") + ")")
        }
        if let directory = c.output.saveDirectory {
            try job.save(trainer.engine, toDirectory: directory, world: world)
            say("saved \(directory)")
        }
    }
}
