import TesseraNN
import TesseraTensor

/// A linear layer whose output features are split over the tensor-parallel group (Megatron's column
/// parallelism), over one or more Hugging Face weights whose local outputs lie side by side in one
/// buffer (Llama's `q_proj | k_proj | v_proj`, `gate_proj | up_proj`; GPT-2's fused `c_attn`).
///
/// Input `[rows, in]` arrives replicated (or, with sequence parallelism, as this rank's `rows / tp`
/// shard, all-gathered here); output `[rows, outFeatures]` holds this rank's columns. The input gradient
/// is reduced over tp (all-reduce, or reduce-scatter onto the sequence shards).
public struct ColumnParallelLinear: @unchecked Sendable {
    /// One weight (and bias) feeding `outFeatures` consecutive output columns.
    public struct Part: @unchecked Sendable {
        /// A Float32 parameter, or (inference) the used output rows of a matrix in its stored type.
        public let weight: LayerWeight
        public let bias: Parameter?
        public let products: LinearProducts
        /// First local output feature of the weight this part uses (non-zero only when a replicated
        /// key/value weight serves one head); a stored weight is already cut to the used rows.
        public let firstOutput: Int

        /// - Parameters:
        ///   - outputs: the local output features used (default: all); a sub-range serves one key/value
        ///     head out of a replicated weight.
        public init(weight: Parameter, bias: Parameter?, layout: WeightLayout, inFeatures: Int, outputs: Range<Int>? = nil) {
            self.init(weight: .parameter(weight), bias: bias, layout: layout, inFeatures: inFeatures, outputs: outputs)
        }

        /// A part over either kind of weight; a stored weight is `[local outputs, inFeatures]` and `layout` applies
        /// only to a parameter.
        public init(weight: LayerWeight, bias: Parameter?, layout: WeightLayout, inFeatures: Int, outputs: Range<Int>? = nil) {
            switch weight {
            case let .parameter(parameter):
                let local = parameter.spec.localShape
                let all = layout == .outputMajor ? local[0] : local[1]
                let used = outputs ?? 0..<all
                self.weight = weight
                self.firstOutput = used.lowerBound
                self.products = LinearProducts(layout: layout, inFeatures: inFeatures, outFeatures: used.count,
                                               weightStride: layout == .outputMajor ? inFeatures : all)
            case let .stored(matrix):
                let used = outputs ?? 0..<matrix.rows
                self.weight = .stored(matrix.rows(used))
                self.firstOutput = used.lowerBound
                self.products = LinearProducts(layout: .outputMajor, inFeatures: inFeatures, outFeatures: used.count)
            }
            self.bias = bias
        }

        /// Offset of the first used element in a parameter's values.
        private var weightOffset: Int { products.layout == .outputMajor ? firstOutput * products.inFeatures : firstOutput }
        var weightPointer: UnsafeMutablePointer<Float> { weight.trainable.value.baseAddress! + weightOffset }
        var weightGradientPointer: UnsafeMutablePointer<Float> { weight.trainable.gradient.baseAddress! + weightOffset }

        /// `y = x·op(W) (+ b)` on this part's columns.
        func forward(_ x: UnsafePointer<Float>, ldx: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, backend: any ComputeBackend,
                     rowStable: Bool) {
            let bias = bias.map { UnsafePointer($0.value.baseAddress! + firstOutput) }
            let offset = weight.parameter == nil ? 0 : weightOffset
            products.forward(x, ldx: ldx, weight: weight, offset: offset, bias: bias, into: y, ldy: ldy, rows: rows, backend: backend,
                             rowStable: rowStable)
        }
    }

    public let parts: [Part]
    public let inFeatures: Int
    /// Local output features (the sum over parts).
    public let outFeatures: Int
    public let context: LayerContext

    public init(parts: [Part], context: LayerContext) {
        precondition(!parts.isEmpty && parts.allSatisfy { $0.products.inFeatures == parts[0].products.inFeatures })
        self.parts = parts
        self.inFeatures = parts[0].products.inFeatures
        self.outFeatures = parts.reduce(0) { $0 + $1.products.outFeatures }
        self.context = context
    }

    /// The full input `[tokens, in]` from this rank's input `[localRows, in]`: the input itself, or its
    /// all-gather over the sequence shards (result in `scratch`).
    public func gatherInput(_ x: UnsafeMutablePointer<Float>, localRows: Int, scratch: FloatBuffer) throws -> UnsafeMutablePointer<Float> {
        let mapping = context.sequenceParallel ? context.mappings.gatherFromSequenceRegion : context.mappings.copyToTensorRegion
        return try mapping.forward(x, rows: localRows, columns: inFeatures, scratch: scratch, in: context)
    }

    /// The full input again for the backward pass: `x` itself, or (sequence parallelism) its all-gather
    /// re-done into `kept`, which lives as long as deferred weight gradients need it (Megatron stores the
    /// shard and gathers twice, so saved activations shrink as 1/tp).
    public func regatherInput(_ x: UnsafeMutablePointer<Float>, tokens: Int, into kept: FloatBuffer) throws -> UnsafeMutablePointer<Float> {
        guard context.sequenceParallel else { return x }
        kept.reserve(tokens * inFeatures)
        let gathered = try gatherInput(x, localRows: context.localRows(tokens: tokens), scratch: kept)
        if gathered != kept.pointer { context.backend.copy(gathered, into: kept.pointer, count: tokens * inFeatures) }
        return kept.pointer
    }

    /// `y[:, part columns] = input · op(W_part) (+ b_part)` for the full input `[tokens, in]` (`rowStable`: see
    /// ``LinearProducts/forward(_:ldx:weight:bias:into:ldy:rows:backend:rowStable:)``). Parts whose weights are all
    /// stored matrices run as one backend call.
    public func forward(_ input: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
                        rowStable: Bool = false) {
        let ldy = ldy ?? outFeatures
        let stored = parts.compactMap { part -> QuantizedMatrix? in if case let .stored(matrix) = part.weight { matrix } else { nil } }
        var column = 0
        if stored.count == parts.count {
            context.backend.matmul(input, ldx: inFeatures, stored: stored, into: y, ldy: ldy, rows: tokens, rowStable: rowStable)
            for part in parts {
                if let bias = part.bias {
                    context.backend.addBias(y + column, ld: ldy, bias: bias.value.baseAddress! + part.firstOutput, rows: tokens,
                                            columns: part.products.outFeatures)
                }
                column += part.products.outFeatures
            }
            return
        }
        for part in parts {
            part.forward(input, ldx: inFeatures, into: y + column, ldy: ldy, rows: tokens, backend: context.backend, rowStable: rowStable)
            column += part.products.outFeatures
        }
    }

    /// This rank's partial input gradient `dx = Σ_part dy_part · op(W_part)ᵀ` `[tokens, in]`.
    public func inputGradient(_ dy: UnsafePointer<Float>, ldy: Int? = nil, tokens: Int, into dx: UnsafeMutablePointer<Float>) {
        let ldy = ldy ?? outFeatures
        var column = 0
        for (i, part) in parts.enumerated() {
            part.products.inputGradient(dy + column, ldy: ldy, weight: part.weightPointer, into: dx, ldx: inFeatures,
                                        rows: tokens, accumulate: i > 0, backend: context.backend)
            column += part.products.outFeatures
        }
    }

    /// Reduces the partial input gradient `[tokens, in]` over tp: in place (all-reduce) or, with
    /// sequence parallelism, onto this rank's `[tokens / tp, in]` shard in `scratch`.
    public func reduceInputGradient(_ dx: UnsafeMutablePointer<Float>, tokens: Int, scratch: FloatBuffer) throws -> UnsafeMutablePointer<Float> {
        let mapping = context.sequenceParallel ? context.mappings.gatherFromSequenceRegion : context.mappings.copyToTensorRegion
        return try mapping.backward(dx, rows: tokens, columns: inFeatures, scratch: scratch, in: context)
    }

    /// Submits `dW_part += …` and `db_part += …` for the full input and output gradient.
    public func weightGradients(input: UnsafePointer<Float>, dy: UnsafePointer<Float>, ldy: Int? = nil, tokens: Int,
                                queue: WeightGradientQueue, mode: BackwardMode) {
        let ldy = ldy ?? outFeatures
        var column = 0
        for part in parts {
            queue.submit(part.products.weightGradient(x: input, ldx: inFeatures, dy: dy + column, ldy: ldy,
                                                      into: part.weightGradientPointer, rows: tokens, backend: context.backend), mode: mode)
            if let bias = part.bias {
                queue.submit(part.products.biasGradient(dy: dy + column, ldy: ldy, into: bias.gradient.baseAddress! + part.firstOutput,
                                                        rows: tokens, backend: context.backend), mode: mode)
            }
            column += part.products.outFeatures
        }
    }
}
