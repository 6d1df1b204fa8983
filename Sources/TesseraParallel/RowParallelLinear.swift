import TesseraNN
import TesseraTensor

/// A linear layer whose input features are split over the tensor-parallel group (Megatron's row
/// parallelism): input `[tokens, in / tp]` from a column-parallel layer, partial products summed over tp
/// (all-reduce, or reduce-scatter onto the sequence shards), then the replicated bias.
public struct RowParallelLinear: @unchecked Sendable {
    /// `[out, in / tp]` as a Float32 parameter, or (inference) a stored matrix `[out, in / tp]`.
    public let weight: LayerWeight
    /// Replicated; added once after the reduction.
    public let bias: Parameter?
    public let products: LinearProducts
    public let context: LayerContext

    public init(weight: Parameter, bias: Parameter?, layout: WeightLayout, context: LayerContext) {
        self.init(weight: .parameter(weight), bias: bias, layout: layout, context: context)
    }

    /// A layer over either kind of weight; `layout` applies only to a parameter (a stored matrix is `[out, in / tp]`).
    public init(weight: LayerWeight, bias: Parameter?, layout: WeightLayout, context: LayerContext) {
        switch weight {
        case let .parameter(parameter):
            let local = parameter.spec.localShape
            let (inFeatures, outFeatures) = layout == .outputMajor ? (local[1], local[0]) : (local[0], local[1])
            self.products = LinearProducts(layout: layout, inFeatures: inFeatures, outFeatures: outFeatures)
        case let .stored(matrix):
            self.products = LinearProducts(layout: .outputMajor, inFeatures: matrix.columns, outFeatures: matrix.rows)
        }
        self.weight = weight
        self.bias = bias
        self.context = context
    }

    public var outFeatures: Int { products.outFeatures }

    /// `y = reduce(x · op(W)) + b`. Returns `[localRows, out]` (`tokens`, or `tokens / tp` with sequence
    /// parallelism) in `workspace.partial` or `workspace.reduced`; `rowStable` as in
    /// ``LinearProducts/forward(_:ldx:weight:bias:into:ldy:rows:backend:rowStable:)``.
    public func forward(_ x: UnsafePointer<Float>, tokens: Int, workspace: Workspace, rowStable: Bool = false) throws -> UnsafeMutablePointer<Float> {
        let n = products.outFeatures
        workspace.partial.reserve(tokens * n)
        products.forward(x, ldx: products.inFeatures, weight: weight, bias: nil, into: workspace.partial.pointer, ldy: n, rows: tokens,
                         backend: context.backend, rowStable: rowStable)
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        let y = try mapping.forward(workspace.partial.pointer, rows: tokens, columns: n, scratch: workspace.reduced, in: context)
        if let bias { context.backend.addBias(y, bias: bias.value.baseAddress!, rows: context.localRows(tokens: tokens), columns: n) }
        return y
    }

    /// The full output gradient `[tokens, out]` from this rank's `[localRows, out]`, written to `into`
    /// (all-gathered with sequence parallelism, copied otherwise, so deferred weight gradients may keep it).
    public func gatherOutputGradient(_ dy: UnsafeMutablePointer<Float>, tokens: Int, into full: FloatBuffer) throws {
        let n = products.outFeatures, rows = context.localRows(tokens: tokens)
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        full.reserve(tokens * n)
        let result = try mapping.backward(dy, rows: rows, columns: n, scratch: full, in: context)
        if result != full.pointer { context.backend.copy(result, into: full.pointer, count: tokens * n) }
    }

    /// `dx = dyFull · op(W)ᵀ` `[tokens, in / tp]`.
    public func inputGradient(_ dyFull: UnsafePointer<Float>, tokens: Int, into dx: UnsafeMutablePointer<Float>) {
        products.inputGradient(dyFull, ldy: products.outFeatures, weight: weight.trainable.value.baseAddress!, into: dx,
                               ldx: products.inFeatures, rows: tokens, accumulate: false, backend: context.backend)
    }

    /// Submits `dW += …` (from the full output gradient) and `db += Σ dy` over this rank's rows (a partial
    /// sum under sequence parallelism, which the bias's ``GradientReduction`` completes).
    public func weightGradients(input: UnsafePointer<Float>, dyFull: UnsafePointer<Float>, tokens: Int,
                                queue: WeightGradientQueue, mode: BackwardMode) {
        let n = products.outFeatures
        queue.submit(products.weightGradient(x: input, ldx: products.inFeatures, dy: dyFull, ldy: n,
                                             into: weight.trainable.gradient.baseAddress!, rows: tokens, backend: context.backend), mode: mode)
        if let bias {
            // This rank's rows of the full gradient: all of them, or its sequence shard.
            let rows = context.localRows(tokens: tokens), first = context.sequenceParallel ? context.tp.rank * rows : 0
            queue.submit(products.biasGradient(dy: dyFull + first * n, ldy: n, into: bias.gradient.baseAddress!, rows: rows, backend: context.backend),
                         mode: mode)
        }
    }
}
