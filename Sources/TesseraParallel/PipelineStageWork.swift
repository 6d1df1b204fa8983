import TesseraNN

/// The compute a ``PipelineExecutor`` drives on one rank: the forward and backward passes of this rank's
/// local model chunks, one micro-batch at a time. The executor decides when each runs and moves the
/// activations and gradients between ranks; the work keeps one state per (micro-batch, chunk) in flight.
///
/// Activations and gradients at every chunk boundary have ``boundaryElements(microBatch:)`` floats
/// (`[localRows, hidden]` for a transformer).
public protocol PipelineStageWork: AnyObject {
    /// Floats of the activation (and of its gradient) passed between two chunks for `microBatch`.
    func boundaryElements(microBatch: Int) -> Int

    /// Runs the forward pass of `microBatch` through local chunk `chunk`.
    /// - Parameter input: the previous chunk's output (`nil` for model chunk 0, which reads the tokens).
    ///   Valid only during the call.
    /// - Returns: the output to send to the next chunk (`nil` for the last model chunk); it must stay
    ///   valid and unchanged until ``release(microBatch:chunk:)``.
    func forward(microBatch: Int, chunk: Int, input: UnsafePointer<Float>?) throws -> UnsafeBufferPointer<Float>?

    /// Runs the backward pass (`mode: .full`) or its input-gradient half (`.inputOnly`).
    /// - Parameters:
    ///   - outputGradient: the gradient of this chunk's output (`nil` for the last model chunk). Valid only
    ///     during the call.
    ///   - finalizesGradients: this is the last action of the step that adds to the chunk's weight gradients
    ///     (a `.full` backward of the chunk's last micro-batch), so gradient reductions may start.
    /// - Returns: the gradient of the chunk's input to send back (`nil` for model chunk 0); valid and
    ///   unchanged until ``release(microBatch:chunk:)``.
    func backward(microBatch: Int, chunk: Int, outputGradient: UnsafeMutablePointer<Float>?, mode: BackwardMode,
                  finalizesGradients: Bool) throws -> UnsafeBufferPointer<Float>?

    /// Runs the weight-gradient work a `.inputOnly` backward deferred (the W of zero-bubble schedules).
    func backwardWeights(microBatch: Int, chunk: Int, finalizesGradients: Bool) throws

    /// Bytes of activations the forward of `microBatch` saved in `chunk` (while it is in flight).
    func savedActivationBytes(microBatch: Int, chunk: Int) -> Int

    /// The state of (`microBatch`, `chunk`) is no longer needed and may be reused.
    func release(microBatch: Int, chunk: Int)
}
