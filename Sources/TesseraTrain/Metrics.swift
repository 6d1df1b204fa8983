import Foundation
import TesseraModels

/// The figures of one optimizer step, as written to `--metrics FILE.jsonl` (one JSON object per line) and shown
/// by the progress display.
public struct StepMetrics: Sendable, Hashable, Codable {
    /// Optimizer step, from 1.
    public var step: Int
    /// The objective: mean cross-entropy over the step's `G·T` targets, plus a mixture of experts' router losses.
    public var loss: Double
    /// Mixture of experts: the mean cross-entropy alone.
    public var lmLoss: Double?
    /// Mixture of experts: the load-balancing loss (token-weighted over micro-batches), whether or not ``loss`` includes it.
    public var auxLoss: Double?
    /// Mixture of experts: each layer's load in this step (world rank 0's layers, all data-parallel ranks' tokens).
    public var experts: [ExpertLoad]?
    /// Learning rate the step used.
    public var learningRate: Double
    /// Global gradient L2 norm before clipping.
    public var gradientNorm: Double
    /// Targets in the global batch of this step.
    public var tokens: Int
    /// Wall-clock seconds of this step (forward, backward, reductions and the optimizer).
    public var stepSeconds: Double
    /// `tokens / stepSeconds`.
    public var tokensPerSecond: Double
    /// Seconds since the first step started.
    public var elapsedSeconds: Double
    /// Model FLOP/s of the step over all ranks (``TransformerConfig/trainingFlopsPerToken(sequenceLength:)`` per target).
    public var modelFlopsPerSecond: Double?
    /// Model FLOP utilization: ``modelFlopsPerSecond`` over the `cblas_sgemm` rate of all ranks measured at start-up.
    public var mfu: Double?
    /// Seconds the end of the backward pass waited for data-parallel gradient reductions (world rank 0).
    public var reductionWaitSeconds: Double?
    /// Per rank, in world rank order: parameters, gradients, optimizer state and peak activations, in bytes.
    public var memory: [MemoryReport]?
    /// Bytes all ranks moved in this step per mesh axis (`tp`, `pp`, `dp`, `other`), counting each rank's
    /// input buffers of collectives and its sends.
    public var communicationBytes: [String: Int]?

    public init(step: Int, loss: Double, learningRate: Double, gradientNorm: Double, tokens: Int, stepSeconds: Double,
                elapsedSeconds: Double) {
        self.step = step
        self.loss = loss
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
        self.tokens = tokens
        self.stepSeconds = stepSeconds
        self.tokensPerSecond = stepSeconds > 0 ? Double(tokens) / stepSeconds : 0
        self.elapsedSeconds = elapsedSeconds
    }

    enum CodingKeys: String, CodingKey {
        case step, loss, tokens, experts
        case lmLoss = "lm_loss"
        case auxLoss = "aux_loss"
        case learningRate = "lr"
        case gradientNorm = "grad_norm"
        case stepSeconds = "step_seconds"
        case tokensPerSecond = "tokens_per_second"
        case elapsedSeconds = "elapsed_seconds"
        case modelFlopsPerSecond = "model_flops_per_second"
        case mfu
        case reductionWaitSeconds = "reduction_wait_seconds"
        case memory
        case communicationBytes = "communication_bytes"
    }

    /// One line of JSON (no trailing newline), keys in a stable order.
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain numbers cannot fail; NaN (a diverged loss) is written as a string by the strategy below.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// One mixture-of-experts layer's routing in one step.
public struct ExpertLoad: Sendable, Hashable, Codable {
    public var layer: Int
    /// Assignments each expert kept (after capacity drops), summed over the step's micro-batches.
    public var tokensPerExpert: [Int]
    /// The share of top-k assignments capacity dropped.
    public var droppedFraction: Double

    enum CodingKeys: String, CodingKey {
        case layer
        case tokensPerExpert = "tokens_per_expert"
        case droppedFraction = "dropped_fraction"
    }
}

/// Appends ``StepMetrics`` to a JSON-lines file, one `write` per line, so a reader (`tail -f`, a plot script)
/// sees each step as soon as it ends and a crash loses at most the line being written.
public final class MetricsWriter {
    public let path: String
    private let handle: FileHandle

    /// Creates (or truncates) the file.
    /// - Throws: ``TrainingError/unwritable(path:reason:)``.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.unwritable(path: path, reason: "cannot create the metrics file")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Writes one line.
    /// - Throws: ``TrainingError/unwritable(path:reason:)``.
    public func append(_ metrics: StepMetrics) throws {
        do {
            try handle.write(contentsOf: Data((metrics.jsonLine + "\n").utf8))
        } catch {
            throw TrainingError.unwritable(path: path, reason: error.localizedDescription)
        }
    }
}
