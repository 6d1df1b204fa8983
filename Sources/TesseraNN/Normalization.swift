import TesseraTensor

/// Which normalization a model uses over the hidden dimension.
public enum NormalizationKind: String, Sendable, Hashable, Codable {
    /// LayerNorm with weight and bias (GPT-2).
    case layerNorm
    /// RMSNorm with weight only (Llama).
    case rmsNorm
}

/// A LayerNorm or RMSNorm over rows of `[rows, columns]`, with its parameters.
///
/// Stateless across micro-batches: the caller keeps the input and the per-row statistics
/// (`2 × rows` floats: mean then rstd; RMSNorm uses only rstd) for the backward pass.
public struct Normalization: @unchecked Sendable {
    public let kind: NormalizationKind
    public let weight: Parameter
    public let bias: Parameter?
    public let epsilon: Float

    public init(kind: NormalizationKind, weight: Parameter, bias: Parameter?, epsilon: Float) {
        precondition((kind == .layerNorm) == (bias != nil), "LayerNorm needs a bias, RMSNorm has none")
        self.kind = kind
        self.weight = weight
        self.bias = bias
        self.epsilon = epsilon
    }

    public var columns: Int { weight.count }

    /// `y = norm(x)`; writes `statistics` (`2 × rows`). Rows are split over `backend`.
    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                        statistics: UnsafeMutablePointer<Float>, rows: Int, backend: any ComputeBackend = CPUBackend.serial) {
        switch kind {
        case .layerNorm:
            backend.layerNorm(x, weight: weight.value.baseAddress!, bias: bias!.value.baseAddress!, into: y,
                              mean: statistics, rstd: statistics + rows, rows: rows, columns: columns, epsilon: epsilon)
        case .rmsNorm:
            backend.rmsNorm(x, weight: weight.value.baseAddress!, into: y, rstd: statistics + rows,
                            rows: rows, columns: columns, epsilon: epsilon)
        }
    }

    /// Writes `dx` and accumulates the weight (and bias) gradients (the same bits for every `backend`).
    public func backward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, statistics: UnsafePointer<Float>,
                         into dx: UnsafeMutablePointer<Float>, rows: Int, backend: any ComputeBackend = CPUBackend.serial) {
        switch kind {
        case .layerNorm:
            backend.layerNormBackward(dy, x: x, weight: weight.value.baseAddress!, mean: statistics, rstd: statistics + rows,
                                      dx: dx, dWeight: weight.gradient.baseAddress!, dBias: bias!.gradient.baseAddress!,
                                      rows: rows, columns: columns)
        case .rmsNorm:
            backend.rmsNormBackward(dy, x: x, weight: weight.value.baseAddress!, rstd: statistics + rows,
                                    dx: dx, dWeight: weight.gradient.baseAddress!, rows: rows, columns: columns)
        }
    }
}
