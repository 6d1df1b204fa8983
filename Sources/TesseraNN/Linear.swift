import TesseraTensor

/// How a linear weight is stored (both as in Hugging Face checkpoints).
public enum WeightLayout: String, Sendable, Hashable, Codable {
    /// `[out, in]`, `y = x·Wᵀ` (`torch.nn.Linear`, Llama).
    case outputMajor
    /// `[in, out]`, `y = x·W` (GPT-2's `Conv1D`).
    case inputMajor
}

/// The three products of a linear layer on local buffers, for any ``WeightLayout``.
///
/// A weight is addressed as `(pointer, leading dimension)` so a layer can use a block of rows or columns
/// of a larger local weight without copying. Shapes: `x` `[rows, inFeatures]` (stride `ldx`),
/// `y` `[rows, outFeatures]` (stride `ldy`).
public struct LinearProducts: Sendable {
    public var layout: WeightLayout
    public var inFeatures: Int
    public var outFeatures: Int
    /// Leading dimension of the stored weight (`inFeatures` for outputMajor, `outFeatures` for
    /// inputMajor, unless the weight is a block of a wider one).
    public var weightStride: Int

    public init(layout: WeightLayout, inFeatures: Int, outFeatures: Int, weightStride: Int? = nil) {
        self.layout = layout
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weightStride = weightStride ?? (layout == .outputMajor ? inFeatures : outFeatures)
    }

    /// `y = x·op(W)` (+ `bias` broadcast over rows when given, on `backend`).
    /// - Parameter rowStable: each output row computed the same way whatever `rows` is (batched decoding, whose
    ///   tokens must not depend on the batch); otherwise the fastest product.
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, backend: any ComputeBackend = CPUBackend.serial,
                        rowStable: Bool = false) {
        if rowStable {
            backend.rowStableMatmul(x, ldx: ldx, weight, transposedWeight: layout == .outputMajor, ldw: weightStride,
                                    into: y, ldy: ldy, rows: rows, n: outFeatures, k: inFeatures)
        } else {
            backend.matmul(x, lda: ldx, weight, transposeB: layout == .outputMajor, ldb: weightStride,
                           into: y, ldc: ldy, m: rows, n: outFeatures, k: inFeatures)
        }
        if let bias { backend.addBias(y, ld: ldy, bias: bias, rows: rows, columns: outFeatures) }
    }

    /// `y = x·Wᵀ` (+ `bias`) for a weight kept in its stored type, `[outFeatures, inFeatures]` whatever ``layout``
    /// says (see ``LayerWeight/stored(_:)``), on `backend`.
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, stored weight: QuantizedMatrix, bias: UnsafePointer<Float>?,
                        into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, backend: any ComputeBackend = CPUBackend.serial,
                        rowStable: Bool = false) {
        precondition(weight.rows == outFeatures && weight.columns == inFeatures,
                     "stored weight \(weight.shape) for \(inFeatures) → \(outFeatures) features")
        backend.matmul(x, ldx: ldx, stored: [weight], into: y, ldy: ldy, rows: rows, rowStable: rowStable)
        if let bias { backend.addBias(y, ld: ldy, bias: bias, rows: rows, columns: outFeatures) }
    }

    /// `y = x·op(W)` (+ `bias`) for either kind of weight (`rowStable` as for a Float32 weight).
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, weight: LayerWeight, offset: Int = 0, bias: UnsafePointer<Float>?,
                        into y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int, backend: any ComputeBackend = CPUBackend.serial,
                        rowStable: Bool = false) {
        switch weight {
        case let .parameter(parameter):
            forward(x, ldx: ldx, weight: parameter.value.baseAddress! + offset, bias: bias, into: y, ldy: ldy, rows: rows,
                    backend: backend, rowStable: rowStable)
        case let .stored(matrix):
            forward(x, ldx: ldx, stored: matrix, bias: bias, into: y, ldy: ldy, rows: rows, backend: backend, rowStable: rowStable)
        }
    }

    /// `dx (+)= dy·op(W)ᵀ`; accumulates when `accumulate` is true.
    public func inputGradient(_ dy: UnsafePointer<Float>, ldy: Int, weight: UnsafePointer<Float>,
                              into dx: UnsafeMutablePointer<Float>, ldx: Int, rows: Int, accumulate: Bool,
                              backend: any ComputeBackend = CPUBackend.serial) {
        backend.matmul(dy, lda: ldy, weight, transposeB: layout == .inputMajor, ldb: weightStride,
                       into: dx, ldc: ldx, m: rows, n: inFeatures, k: outFeatures, beta: accumulate ? 1 : 0)
    }

    /// The deferred product `dW += …` for input `x` and output gradient `dy`.
    public func weightGradient(x: UnsafePointer<Float>, ldx: Int, dy: UnsafePointer<Float>, ldy: Int,
                               into dWeight: UnsafeMutablePointer<Float>, rows: Int,
                               backend: any ComputeBackend = CPUBackend.serial) -> WeightGradientTask {
        switch layout {
        case .outputMajor:  // dW[out, in] += dyᵀ·x
            return WeightGradientTask(work: .product(a: dy, transposeA: true, lda: ldy, b: x, transposeB: false, ldb: ldx,
                                                     into: dWeight, ldc: weightStride, m: outFeatures, n: inFeatures, k: rows),
                                      backend: backend)
        case .inputMajor:  // dW[in, out] += xᵀ·dy
            return WeightGradientTask(work: .product(a: x, transposeA: true, lda: ldx, b: dy, transposeB: false, ldb: ldy,
                                                     into: dWeight, ldc: weightStride, m: inFeatures, n: outFeatures, k: rows),
                                      backend: backend)
        }
    }

    /// The deferred bias gradient `dBias += Σ_rows dy`, run on `backend`.
    public func biasGradient(dy: UnsafePointer<Float>, ldy: Int, into dBias: UnsafeMutablePointer<Float>, rows: Int,
                             backend: any ComputeBackend = CPUBackend.serial) -> WeightGradientTask {
        WeightGradientTask(work: .columnSums(dy, rows: rows, columns: outFeatures, stride: ldy, into: dBias), backend: backend)
    }
}
