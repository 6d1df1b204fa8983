import Foundation
import TesseraParallel

/// The JSON shape of one training layout (`tessera plan train --json`).
public struct TrainingLayoutReport: Codable, Sendable {
    public var tp, pp, dp, cp, ep: Int
    /// The expert layers' tensor-parallel size.
    public var expertTensorParallel: Int
    public var microBatchSize: Int
    public var schedule: String
    public var virtualStages: Int
    public var recompute: String
    public var zeroStage: Int
    public var sequenceParallel: Bool
    public var flashAttention: Bool
    /// The collectives hidden behind computation, and how cp exchanges keys and values.
    public var overlap: CommunicationOverlap
    public var contextParallelKind: ContextParallelKind
    public var microBatches: Int
    public var memoryPerGPUBytes: Double
    public var memory: MemoryBreakdown
    public var stepTimeSeconds: Double
    public var time: TimeBreakdown
    public var bubbleFraction: Double
    public var tflopsPerGPU: Double
    public var mfu: Double
    public var tokensPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case tp, pp, dp, cp, ep, schedule, recompute, memory, time, mfu, overlap
        case contextParallelKind = "context_parallel_kind", expertTensorParallel = "expert_tensor_parallel"
        case microBatchSize = "micro_batch_size", virtualStages = "virtual_stages", zeroStage = "zero_stage"
        case sequenceParallel = "sequence_parallel", flashAttention = "flash_attention", microBatches = "micro_batches"
        case memoryPerGPUBytes = "memory_per_gpu_bytes", stepTimeSeconds = "step_time_seconds"
        case bubbleFraction = "bubble_fraction", tflopsPerGPU = "tflops_per_gpu", tokensPerSecond = "tokens_per_second"
    }

    public init(_ e: TrainingEstimate) {
        let l = e.layout
        tp = l.tp; pp = l.pp; dp = l.dp; cp = l.cp; ep = l.ep
        expertTensorParallel = l.etp
        microBatchSize = l.microBatchSize
        schedule = l.schedule?.rawValue ?? "none"
        virtualStages = l.virtualStages
        recompute = l.recompute.rawValue
        zeroStage = l.zeroStage
        sequenceParallel = l.sequenceParallel && l.tp > 1
        flashAttention = l.flashAttention
        overlap = l.overlap
        contextParallelKind = l.contextParallelKind
        microBatches = e.microBatches
        memoryPerGPUBytes = e.memory.total
        memory = e.memory
        stepTimeSeconds = e.stepTime
        time = e.time
        bubbleFraction = e.bubbleFraction
        tflopsPerGPU = e.tflopsPerDevice
        self.mfu = e.mfu
        tokensPerSecond = e.tokensPerSecond
    }
}

/// The JSON document of `tessera plan train --json`: the layouts best first, and how the search went.
public struct TrainingPlanReport: Codable, Sendable {
    public var model: String
    public var gpu: String
    public var gpus: Int
    public var sequenceLength: Int
    public var globalBatchSize: Int
    public var candidatesEvaluated: Int
    public var fittingLayouts: Int
    public var layouts: [TrainingLayoutReport]
    /// When nothing fits: what would.
    public var suggestions: [String]

    enum CodingKeys: String, CodingKey {
        case model, gpu, gpus, layouts, suggestions
        case sequenceLength = "sequence_length", globalBatchSize = "global_batch_size"
        case candidatesEvaluated = "candidates_evaluated", fittingLayouts = "fitting_layouts"
    }
}

extension TrainingPlan {
    /// What would fit when nothing does: more GPUs (doubling up to 64x), or a shorter sequence (halving). The
    /// lines name the job's settings by property (`TrainingJob.devices`); a front end words them with
    /// ``SettingText/worded(_:)``.
    public func suggestions(space: TrainingSearchSpace = TrainingSearchSpace()) -> [SettingText] {
        guard ranked.isEmpty else { return [] }
        let usable = job.accelerator.memoryBytes * (1 - PlannerConstants.memoryReserveFraction)
        var lines: [SettingText] = [
            "the smallest layout needs \(PlanText.gigabytes(smallestMemory)) per GPU; \(PlanText.gigabytes(usable)) are usable",
        ]
        var more = job
        for _ in 0..<6 {
            more.devices *= 2
            if TrainingSearch.anyLayoutFits(more, space: space) {
                lines.append("more GPUs: it fits on \(setting: "TrainingJob.devices", more.devices)")
                break
            }
        }
        var shorter = job
        while shorter.sequenceLength > 128 {
            shorter.sequenceLength /= 2
            if TrainingSearch.anyLayoutFits(shorter, space: space) {
                lines.append(
                    "shorter sequences: \(setting: "TrainingJob.sequenceLength", shorter.sequenceLength) fits on \(job.devices) GPUs")
                break
            }
        }
        return lines
    }

    /// The JSON document with the best `limit` layouts, its suggestions worded in `vocabulary`.
    public func report(
        limit: Int, space: TrainingSearchSpace = TrainingSearchSpace(), naming vocabulary: SettingVocabulary = .library
    ) -> TrainingPlanReport {
        TrainingPlanReport(
            model: job.model.name, gpu: job.accelerator.name, gpus: job.devices, sequenceLength: job.sequenceLength,
            globalBatchSize: job.globalBatchSize, candidatesEvaluated: candidatesEvaluated, fittingLayouts: fittingCount,
            layouts: ranked.prefix(limit).map(TrainingLayoutReport.init),
            suggestions: suggestions(space: space).map { $0.worded(vocabulary) })
    }

    /// A short paragraph on why the best layout wins, in terms of the model's costs.
    public func explanation() -> String {
        guard let best = ranked.first else { return "No layout fits in memory." }
        let l = best.layout
        let a = job.accelerator
        var sentences: [String] = []
        var schedule = l.schedule == .interleaved ? "interleaved 1F1B with \(l.virtualStages) chunks per rank"
            : l.schedule.map { "the \($0) schedule" } ?? "no pipeline"
        if l.pp > 1 { schedule += " over \(best.microBatches) micro-batches" }
        sentences.append(
            "Best: \(l.summary) — \(PlanText.seconds(best.stepTime)) per step, "
                + String(format: "%.3g TFLOP/s per GPU (%.0f%% MFU), %.0f tokens/s", best.tflopsPerDevice, best.mfu * 100,
                         best.tokensPerSecond) + ", \(schedule).")
        let t = best.time
        if l.tp > 1 {
            let link = a.link(groupSize: l.tp, stride: 1)
            sentences.append(
                "Tensor parallelism of \(l.tp) splits every matrix and runs its all-reduces over \(link.kind), "
                    + "\(PlanText.percent(t.tensorParallel / t.total)) of the step.")
        }
        if l.pp > 1 {
            let layers = (job.model.layers + l.pp - 1) / l.pp
            let link = a.link(groupSize: l.pp, stride: l.tp * l.cp * l.dp)
            sentences.append(
                "\(l.pp) pipeline stages of up to \(layers) layers pass activations over \(link.kind); the bubble costs "
                    + "\(PlanText.percent(best.bubbleFraction)) and the transfers \(PlanText.percent(t.pipelineTransfers / t.total)).")
        }
        if l.cp > 1 { sentences.append("Context parallelism of \(l.cp) splits each sequence (\(PlanText.percent(t.contextParallel / t.total)) exposed).") }
        if l.ep > 1 { sentences.append("Expert parallelism of \(l.ep) spreads the experts (all-to-alls \(PlanText.percent(t.expertParallel / t.total))).") }
        if l.dp > 1 {
            let link = a.link(groupSize: l.dp * l.cp, stride: l.tp)
            sentences.append(
                "Data parallelism of \(l.dp) reduces gradients over \(link.kind)"
                    + (l.torchDDP ? " with PyTorch DDP during the last backward pass, \(PlanText.seconds(t.dataParallel)) exposed"
                        : l.overlap.dataParallel ? " overlapped with computation, \(PlanText.seconds(t.dataParallel)) exposed"
                        : " in \(PlanText.seconds(t.dataParallel))")
                    + (l.zeroStage > 0 ? " and ZeRO-\(l.zeroStage) shards the optimizer states" + (l.zeroStage > 1 ? " and more" : "") : "")
                    + ".")
        }
        let m = best.memory
        sentences.append(
            "Memory per GPU: \(PlanText.gigabytes(m.total)) of \(PlanText.gigabytes(best.usableMemory)) usable (weights "
                + "\(PlanText.gigabytes(m.weights)), gradients \(PlanText.gigabytes(m.gradients)), optimizer "
                + "\(PlanText.gigabytes(m.optimizer)), activations \(PlanText.gigabytes(m.activations)) with "
                + (l.recompute == .none ? "no" : l.recompute.rawValue) + " recomputation).")
        if let second = bestPerMesh(limit: 2).dropFirst().first {
            sentences.append(
                "The best other mesh, \(second.layout.summary), is "
                    + "\(PlanText.percent(second.stepTime / best.stepTime - 1)) slower.")
        }
        return sentences.joined(separator: " ")
    }

    /// The runners-up: the best layout of each distinct mesh.
    public func runnersUpTable(limit: Int) -> String {
        let rows = bestPerMesh(limit: limit).map { e -> [String] in
            let l = e.layout
            return [
                "\(l.tp)", "\(l.pp)", "\(l.dp)", "\(l.cp)", "\(l.ep)", "\(l.microBatchSize)",
                l.scheduleName, l.recompute.rawValue,
                "\(l.zeroStage)", PlanText.gigabytes(e.memory.total), PlanText.seconds(e.stepTime),
                String(format: "%.3g", e.tflopsPerDevice), String(format: "%.1f%%", e.mfu * 100),
                PlanText.percent(e.bubbleFraction),
            ]
        }
        return PlanText.table(
            header: ["tp", "pp", "dp", "cp", "ep", "mbs", "schedule", "recompute", "zero", "memory", "step", "TFLOP/s",
                     "MFU", "bubble"],
            rows: rows)
    }

    /// Where the step time of each mesh's best layout goes, in percent of its step: the runners-up with their
    /// time broken down by cause.
    public func timeBreakdownTable(limit: Int) -> String {
        let rows = bestPerMesh(limit: limit).enumerated().map { index, e -> [String] in
            let t = e.time
            func share(_ part: Double) -> String { String(format: "%.1f", part / t.total * 100) }
            return [
                "\(index + 1)", "\(e.layout.tp)", "\(e.layout.pp)", "\(e.layout.dp)", "\(e.layout.microBatchSize)",
                e.layout.scheduleName, PlanText.seconds(e.stepTime), String(format: "%.1f", e.tflopsPerDevice),
                share(t.compute), share(t.recompute), share(t.tensorParallel), share(t.pipelineTransfers),
                share(t.pipelineBubble), share(t.dataParallel), share(t.optimizer + t.contextParallel + t.expertParallel),
                PlanText.gigabytes(e.memory.total),
            ]
        }
        return PlanText.table(
            header: ["rank", "tp", "pp", "dp", "mbs", "schedule", "step", "TFLOP/s", "compute%", "recompute%", "tp%",
                     "p2p%", "bubble%", "dp%", "other%", "memory"],
            rows: rows)
    }
}
