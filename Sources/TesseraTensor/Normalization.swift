extension Kernels {
    /// LayerNorm over the last dimension: `y = (x − mean) · rstd · weight + bias`.
    /// - Parameters:
    ///   - x, y: `[rows, columns]`.
    ///   - weight, bias: `[columns]`.
    ///   - mean, rstd: `[rows]`, written for the backward pass (`rstd = 1/√(var + ε)`, biased variance).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            var sum: Float = 0
            for c in 0..<columns { sum += xr[c] }
            let m = sum / Float(columns)
            var variance: Float = 0
            for c in 0..<columns { variance += (xr[c] - m) * (xr[c] - m) }
            let s = 1 / (variance / Float(columns) + epsilon).squareRoot()
            for c in 0..<columns { yr[c] = (xr[c] - m) * s * weight[c] + bias[c] }
            mean[r] = m
            rstd[r] = s
        }
    }

    /// Backward of ``layerNorm(_:weight:bias:into:mean:rstd:rows:columns:epsilon:)``.
    /// Writes `dx`; accumulates `dWeight` and `dBias`.
    public static func layerNormBackward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int
    ) {
        for r in 0..<rows {
            let xr = x + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            let m = mean[r], s = rstd[r]
            var sumG: Float = 0, sumGX: Float = 0
            for c in 0..<columns {
                let xhat = (xr[c] - m) * s
                let g = dyr[c] * weight[c]
                sumG += g
                sumGX += g * xhat
                dWeight[c] += dyr[c] * xhat
                dBias[c] += dyr[c]
            }
            let n = Float(columns)
            for c in 0..<columns {
                let xhat = (xr[c] - m) * s
                dxr[c] = s * (dyr[c] * weight[c] - sumG / n - xhat * sumGX / n)
            }
        }
    }

    /// RMSNorm over the last dimension as in Llama: `y = x · rstd · weight`, `rstd = 1/√(mean(x²) + ε)`.
    /// - Parameters: `x`, `y` `[rows, columns]`; `weight` `[columns]`; `rstd` `[rows]` (written).
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let xr = x + r * columns, yr = y + r * columns
            var sumSquares: Float = 0
            for c in 0..<columns { sumSquares += xr[c] * xr[c] }
            let s = 1 / (sumSquares / Float(columns) + epsilon).squareRoot()
            for c in 0..<columns { yr[c] = xr[c] * s * weight[c] }
            rstd[r] = s
        }
    }

    /// Backward of ``rmsNorm(_:weight:into:rstd:rows:columns:epsilon:)``. Writes `dx`; accumulates `dWeight`.
    public static func rmsNormBackward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, rows: Int, columns: Int
    ) {
        for r in 0..<rows {
            let xr = x + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
            let s = rstd[r]
            var dot: Float = 0
            for c in 0..<columns {
                dot += dyr[c] * weight[c] * xr[c]
                dWeight[c] += dyr[c] * xr[c] * s
            }
            let k = dot * s * s * s / Float(columns)
            for c in 0..<columns { dxr[c] = dyr[c] * weight[c] * s - xr[c] * k }
        }
    }
}
