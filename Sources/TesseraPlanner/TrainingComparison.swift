extension TrainingSearch {
    /// The estimate of one given layout of `job` under `profile` (`tessera plan train --explain`), with the
    /// search's own validity rules: the layout must be one the search of that profile could have generated.
    /// - Throws: ``PlannerError/unsupportedLayout(framework:layout:reason:)`` when the software cannot run it (DualPipe
    ///   with an odd pp or micro-batch count included),
    ///   ``PlannerError/invalidLayout(text:reason:)`` when it uses another GPU count or does not divide the model
    ///   or the batch, and the job's own size errors.
    public static func estimate(
        _ layout: TrainingLayout, of job: TrainingJob, profile: SoftwareProfile,
        bubble: (any PipelineBubbleModel)? = nil
    ) throws -> TrainingEstimate {
        try job.validate()
        try profile.check(layout)
        guard layout.deviceCount == job.devices else {
            throw PlannerError.invalidLayout(
                text: layout.summary, reason: "uses tp·cp·pp·dp = \(layout.deviceCount) GPUs; the job has \(job.devices)")
        }
        let perRank = layout.dp * layout.microBatchSize
        if layout.dualPipe, perRank > 0, job.globalBatchSize % perRank == 0,
           !TrainingLayout.dualPipeRuns(stages: layout.pp, microBatches: job.globalBatchSize / perRank) {
            throw PlannerError.unsupportedLayout(
                framework: profile.name, layout: layout.summary,
                reason: "DualPipe needs an even number of pipeline stages and of micro-batches per dp rank (half enter "
                    + "from each end; DeepSeek-V3 report §3.2.1), and this layout has pp \(layout.pp) and "
                    + "\(job.globalBatchSize / perRank) micro-batches; make both even")
        }
        var space = profile.space
        space.tensorParallelSizes = [layout.tp]
        space.pipelineParallelSizes = [layout.pp]
        space.contextParallelSizes = [layout.cp]
        space.expertParallelSizes = [layout.ep]
        space.microBatchSizes = [layout.microBatchSize]
        space.maxMicroBatchSize = max(space.maxMicroBatchSize, layout.microBatchSize)
        space.maxVirtualStages = max(space.maxVirtualStages, layout.virtualStages)
        space.layersPerVirtualStage = nil
        let meshes = (try? validMeshes(job, space: space)) ?? []
        guard let mesh = meshes.first(where: { $0.dp == layout.dp }) else {
            throw PlannerError.invalidLayout(
                text: layout.summary, reason: "does not divide the model: tp must divide the "
                    + "\(job.model.attentionHeads) heads and the MLP width, pp be at most the \(job.model.layers) layers, "
                    + "cp halve the \(job.sequenceLength)-token sequence into 2·cp chunks")
        }
        var found = false
        forEachLayout(of: mesh, job: job, space: space) { candidate in
            if candidate.ep == layout.ep && candidate.etp == layout.etp && candidate.schedule == layout.schedule
                && candidate.virtualStages == layout.virtualStages && candidate.recompute == layout.recompute
                && candidate.zeroStage == layout.zeroStage { found = true }
        }
        guard found else {
            throw PlannerError.invalidLayout(
                text: layout.summary, reason: "does not divide the batch or the model: the micro-batch must divide the "
                    + "\(job.globalBatchSize / max(layout.dp, 1))-sequence batch per dp rank, ep divide the experts and "
                    + "dp·tp/etp, etp divide tp and the expert width, "
                    + "interleaving needs a micro-batch count divisible by pp and pp·v dividing the layers")
        }
        return TrainingCostModel(job: job, space: profile.space).estimate(layout, bubble: CachedBubbleModel(bubble ?? SimulatedBubble()))
    }
}

extension TrainingEstimate {
    /// Two estimates side by side, term by term: step time by cause (compute, exposed communication of each axis,
    /// bubble, optimizer; what multi-token prediction adds to them, where a model has it), memory by kind, and the
    /// figures that follow. Columns: this, `other`, other − this.
    public func comparisonTable(with other: TrainingEstimate, titles: (String, String)) -> String {
        func time(_ name: String, _ value: (TimeBreakdown) -> Double) -> [String] {
            let a = value(self.time), b = value(other.time)
            return [name, PlanText.seconds(a), PlanText.seconds(b), (b >= a ? "+" : "-") + PlanText.seconds(abs(b - a))]
        }
        func bytes(_ name: String, _ value: (MemoryBreakdown) -> Double) -> [String] {
            let a = value(self.memory), b = value(other.memory)
            return [name, PlanText.gigabytes(a), PlanText.gigabytes(b), (b >= a ? "+" : "-") + PlanText.gigabytes(abs(b - a))]
        }
        func figure(_ name: String, _ a: Double, _ b: Double, _ format: String) -> [String] {
            [name, String(format: format, a), String(format: format, b), String(format: "%+" + format.dropFirst(), b - a)]
        }
        let rows: [[String]] = [
            ["layout", layout.summary, other.layout.summary, ""],
            time("compute", \.compute), time("recompute", \.recompute),
            time("tp communication (exposed)", \.tensorParallel), time("cp communication (exposed)", \.contextParallel),
            time("ep all-to-all (exposed)", \.expertParallel), time("pp transfers (exposed)", \.pipelineTransfers),
            time("pipeline bubble", \.pipelineBubble), time("dp communication (exposed)", \.dataParallel),
            time("optimizer step", \.optimizer), time("step", \.total),
        ] + (max(self.time.multiTokenPrediction, other.time.multiTokenPrediction) > 0
            ? [time("of which multi-token prediction", \.multiTokenPrediction)] : []) + [
            figure("TFLOP/s per GPU", tflopsPerDevice, other.tflopsPerDevice, "%.1f"),
            figure("MFU %", mfu * 100, other.mfu * 100, "%.1f"),
            bytes("weights", \.weights), bytes("gradients", \.gradients), bytes("optimizer states", \.optimizer),
            bytes("activations", \.activations), bytes("memory per GPU", \.total),
            ["fits (usable \(PlanText.gigabytes(usableMemory)))", fits ? "yes" : "NO", other.fits ? "yes" : "NO", ""],
        ]
        return PlanText.table(header: ["term", titles.0, titles.1, "difference"], rows: rows)
    }
}
