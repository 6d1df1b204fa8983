import Foundation
import TesseraParallel

/// The JSON shape of one serving layout.
public struct ServingLayoutReport: Codable, Sendable {
    public var tp, pp, ep: Int
    public var gpus: Int
    public var memoryPerGPUBytes: Double
    public var weightsPerGPUBytes: Double
    public var kvCachePerGPUBytes: Double
    public var tokenLatencySeconds: Double
    public var timeToFirstTokenSeconds: Double
    public var tokensPerSecond: Double
    public var tokensPerSecondPerGPU: Double

    enum CodingKeys: String, CodingKey {
        case tp, pp, ep, gpus
        case memoryPerGPUBytes = "memory_per_gpu_bytes", weightsPerGPUBytes = "weights_per_gpu_bytes"
        case kvCachePerGPUBytes = "kv_cache_per_gpu_bytes", tokenLatencySeconds = "token_latency_seconds"
        case timeToFirstTokenSeconds = "time_to_first_token_seconds", tokensPerSecond = "tokens_per_second"
        case tokensPerSecondPerGPU = "tokens_per_second_per_gpu"
    }

    public init(_ e: ServingEstimate) {
        tp = e.layout.tp; pp = e.layout.pp; ep = 1
        gpus = e.layout.deviceCount
        memoryPerGPUBytes = e.memoryPerDevice
        weightsPerGPUBytes = e.weightBytes
        kvCachePerGPUBytes = e.keyValueCacheBytes
        tokenLatencySeconds = e.tokenLatency
        timeToFirstTokenSeconds = e.timeToFirstToken
        tokensPerSecond = e.tokensPerSecond
        tokensPerSecondPerGPU = e.tokensPerSecondPerDevice
    }
}

/// The JSON document of `tessera plan serve --json`.
public struct ServingPlanReport: Codable, Sendable {
    public var model: String
    public var gpu: String
    public var quantization: String
    public var context: Int
    public var batch: Int
    public var weightsBytes: Double
    public var kvCacheBytes: Double
    /// The fewest GPUs any layout fits on (null: none up to 4096).
    public var minGPUs: Int?
    public var layouts: [ServingLayoutReport]
    public var suggestions: [String]

    enum CodingKeys: String, CodingKey {
        case model, gpu, quantization, context, batch, layouts, suggestions
        case weightsBytes = "weights_bytes", kvCacheBytes = "kv_cache_bytes", minGPUs = "min_gpus"
    }
}

extension ServingPlan {
    /// The JSON document with the best `limit` layouts, its suggestions worded in `vocabulary`.
    public func report(limit: Int, naming vocabulary: SettingVocabulary = .library) -> ServingPlanReport {
        ServingPlanReport(
            model: job.model.name, gpu: job.accelerator.name, quantization: job.weightFormat.rawValue,
            context: job.contextLength, batch: job.batchSize, weightsBytes: weightBytes, kvCacheBytes: keyValueCacheBytes,
            minGPUs: minimumDevices, layouts: ranked.prefix(limit).map(ServingLayoutReport.init),
            suggestions: suggestions.map { $0.worded(vocabulary) })
    }

    /// A short paragraph on the requirement and the best layout.
    public func explanation() -> String {
        var sentences = [
            "\(job.model.name) in \(job.weightFormat.rawValue): \(PlanText.gigabytes(weightBytes)) of weights"
                + String(format: " (%.2fB parameters at %.1f bits)", job.model.totalParameters / 1e9, job.weightFormat.bitsPerWeight)
                + "; KV cache \(PlanText.gigabytes(keyValueCacheBytes)) for \(job.batchSize) sequence\(job.batchSize == 1 ? "" : "s")"
                + " of \(job.contextLength) tokens (\(PlanText.gigabytes(job.keyValueBytesPerToken * 1e3)) per 1000 tokens).",
        ]
        if let minimum = minimumDevices {
            sentences.append("It fits on \(minimum) \(job.accelerator.name)\(minimum == 1 ? "" : "s") at the least.")
        }
        guard let best = ranked.first else {
            let scope = job.devices.map { " on \($0) GPU\($0 == 1 ? "" : "s")" } ?? ""
            return (sentences + ["Nothing fits\(scope)."]).joined(separator: " ")
        }
        let l = best.layout
        sentences.append(
            "Best by \(job.objective.rawValue): tp=\(l.tp) pp=\(l.pp) on \(l.deviceCount) GPU\(l.deviceCount == 1 ? "" : "s"), "
                + "\(PlanText.seconds(best.tokenLatency)) per token per sequence, "
                + String(format: "%.0f tokens/s (%.0f per GPU)", best.tokensPerSecond, best.tokensPerSecondPerDevice)
                + ", first token after \(PlanText.seconds(best.timeToFirstToken)) for a full-context prompt; "
                + "\(PlanText.gigabytes(best.memoryPerDevice)) of \(PlanText.gigabytes(best.usableMemory)) usable per GPU.")
        if l.tp > 1 {
            sentences.append("Tensor parallelism divides the weights each GPU streams per token by \(l.tp).")
        }
        if l.pp > 1 {
            sentences.append("Pipeline stages add memory, but every token still passes the \(l.pp) stages one after another.")
        }
        return sentences.joined(separator: " ")
    }

    public func table(limit: Int) -> String {
        PlanText.table(
            header: ["gpus", "tp", "pp", "weights", "kv cache", "memory", "ms/token", "tokens/s", "tokens/s/GPU", "TTFT"],
            rows: ranked.prefix(limit).map { e in
                [
                    "\(e.layout.deviceCount)", "\(e.layout.tp)", "\(e.layout.pp)", PlanText.gigabytes(e.weightBytes),
                    PlanText.gigabytes(e.keyValueCacheBytes), PlanText.gigabytes(e.memoryPerDevice),
                    String(format: "%.1f", e.tokenLatency * 1e3), String(format: "%.0f", e.tokensPerSecond),
                    String(format: "%.0f", e.tokensPerSecondPerDevice), PlanText.seconds(e.timeToFirstToken),
                ]
            })
    }
}
