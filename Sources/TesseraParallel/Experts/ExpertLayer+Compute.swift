import TesseraNN
import TesseraTensor

/// The local experts' SwiGLU on their contiguous row groups (expert-major, `rows[e]` rows for local expert `e`): each
/// projection is one grouped product over every local expert.
extension ExpertLayer {
    private var gates: [UnsafePointer<Float>] { experts.map { UnsafePointer($0.gate.value.baseAddress!) } }
    private var ups: [UnsafePointer<Float>] { experts.map { UnsafePointer($0.up.value.baseAddress!) } }
    private var downs: [UnsafePointer<Float>] { experts.map { UnsafePointer($0.down.value.baseAddress!) } }

    /// `output[rows of e] = down_e(silu(gate_e x) · up_e x)` for `state.expertInput`; fills `state.gateUp` and
    /// `state.activated` for the backward pass. `output`: `[Σ rows, hidden]`. `rowStable`: each row by the fixed-order
    /// products (``ComputeBackend/rowStableMatmul(_:ldx:_:transposedWeight:ldw:into:ldy:rows:n:k:)``), so its bits do
    /// not depend on how many rows its expert got.
    func computeExperts(state: State, rows: [Int], into output: UnsafeMutablePointer<Float>, rowStable: Bool = false) {
        let h = hidden, f = intermediate, n = rows.reduce(0, +), backend = context.backend
        state.gateUp.reserve(n * 2 * f)
        state.activated.reserve(n * f)
        let x = state.expertInput.pointer, gateUp = state.gateUp.pointer
        let product = rowStable ? Self.rowStableGroups : Self.groupedProducts
        product(backend, x, h, rows, gates, gateUp, 2 * f, f, h)
        product(backend, x, h, rows, ups, gateUp + f, 2 * f, f, h)
        backend.swiglu(gateUp, into: state.activated.pointer, rows: n, features: f)
        product(backend, state.activated.pointer, f, rows, downs, output, h, h, f)
    }

    /// `c[rows of e] = a[rows of e] · W_eᵀ` (`W_e`: `[n, k]`) for consecutive row groups, one grouped product each.
    private static func groupedProducts(_ backend: any ComputeBackend, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: [Int],
                                        _ weights: [UnsafePointer<Float>], _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ n: Int, _ k: Int) {
        backend.groupedMatmul(a, lda: lda, rows: rows, weights, transposeB: true, ldb: k, into: c, ldc: ldc, n: n, k: k, beta: 0)
    }

    /// ``groupedProducts(_:_:_:_:_:_:_:_:_:)`` with every row in a fixed order of operations.
    private static func rowStableGroups(_ backend: any ComputeBackend, _ a: UnsafePointer<Float>, _ lda: Int, _ rows: [Int],
                                        _ weights: [UnsafePointer<Float>], _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ n: Int, _ k: Int) {
        var first = 0
        for (weight, count) in zip(weights, rows) {
            backend.rowStableMatmul(a + first * lda, ldx: lda, weight, transposedWeight: true, ldw: k, into: c + first * ldc, ldy: ldc,
                                    rows: count, n: n, k: k)
            first += count
        }
    }

    /// From `state.outputGradient` (`[Σ rows, hidden]`, expert-major): writes the experts' input gradient
    /// (`[Σ rows, hidden]`) into `inputGradient` and submits each expert's weight gradients.
    func backwardExperts(state: State, rows: [Int], into inputGradient: UnsafeMutablePointer<Float>, queue: WeightGradientQueue,
                         mode: BackwardMode) {
        let h = hidden, f = intermediate, n = rows.reduce(0, +), backend = context.backend
        let dy = state.outputGradient.pointer
        state.activatedGradient.reserve(n * f)
        state.gateUpGradient.reserve(n * 2 * f)
        let dGateUp = state.gateUpGradient.pointer
        backend.groupedMatmul(dy, lda: h, rows: rows, downs, transposeB: false, ldb: f, into: state.activatedGradient.pointer, ldc: f,
                              n: f, k: h, beta: 0)
        backend.swigluBackward(state.gateUp.pointer, state.activatedGradient.pointer, into: dGateUp, rows: n, features: f)
        backend.groupedMatmul(dGateUp, lda: 2 * f, rows: rows, gates, transposeB: false, ldb: h, into: inputGradient, ldc: h, n: h, k: f, beta: 0)
        backend.groupedMatmul(dGateUp + f, lda: 2 * f, rows: rows, ups, transposeB: false, ldb: h, into: inputGradient, ldc: h, n: h, k: f, beta: 1)

        let down = LinearProducts(layout: .outputMajor, inFeatures: f, outFeatures: h)
        let projection = LinearProducts(layout: .outputMajor, inFeatures: h, outFeatures: f)
        var first = 0
        for (expert, count) in zip(experts, rows) where count > 0 {
            defer { first += count }
            queue.submit(down.weightGradient(x: state.activated.pointer + first * f, ldx: f, dy: dy + first * h, ldy: h,
                                             into: expert.down.gradient.baseAddress!, rows: count, backend: backend), mode: mode)
            let input = state.expertInput.pointer + first * h
            queue.submit(projection.weightGradient(x: input, ldx: h, dy: dGateUp + first * 2 * f, ldy: 2 * f,
                                                   into: expert.gate.gradient.baseAddress!, rows: count, backend: backend), mode: mode)
            queue.submit(projection.weightGradient(x: input, ldx: h, dy: dGateUp + first * 2 * f + f, ldy: 2 * f,
                                                   into: expert.up.gradient.baseAddress!, rows: count, backend: backend), mode: mode)
        }
    }
}
