extension Kernels {
    /// LayerNorm over the last dimension: `y = (x − mean) · rstd · weight + bias`.
    /// - Parameters:
    ///   - x, y: `[rows, columns]`; `y` may alias `x`.
    ///   - weight, bias: `[columns]`.
    ///   - mean, rstd: `[rows]`, written for the backward pass (`rstd = 1/√(var + ε)`, biased variance).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, epsilon: Float, pool: ComputePool = .serial
    ) {
        let n = Float(columns)
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range {
                // The row stays in L1 between the passes: it is read from memory once, and the
                // two-pass variance has no cancellation.
                let xr = x + r * columns, yr = y + r * columns
                let m = VectorMath.sum(xr, count: columns) / n
                let center = Vector(repeating: m)
                let variance = VectorMath.reduce(count: columns) { i in
                    let d = VectorMath.load(xr + i) - center
                    return d * d
                } tail: { i, lanes in
                    let d = VectorMath.load(xr + i, count: lanes, padding: m) - center
                    return d * d
                } / n
                let s = 1 / (variance + epsilon).squareRoot()
                mean[r] = m
                rstd[r] = s
                VectorMath.forEachVector(columns) { c, lanes in
                    let xhat = (VectorMath.load(xr + c, count: lanes) - center) * s
                    let out = VectorMath.load(bias + c, count: lanes).addingProduct(xhat, VectorMath.load(weight + c, count: lanes))
                    VectorMath.store(out, yr + c, count: lanes)
                }
            }
        }
    }

    /// Backward of ``layerNorm(_:weight:bias:into:mean:rstd:rows:columns:epsilon:pool:)``:
    /// `dx = rstd·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·weight`, `x̂ = (x − mean)·rstd`.
    /// Writes `dx` (may alias `dy`); accumulates `dWeight += Σ dy·x̂` and `dBias += Σ dy` (summed in fixed
    /// row blocks, so every pool gives the same bits).
    public static func layerNormBackward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, pool: ComputePool = .serial
    ) {
        let n = Float(columns)
        RowBlocks.sumColumns(rows: rows, columns: columns, into: [dWeight, dBias], pool: pool) { range, partials in
            let partialWeight = partials[0], partialBias = partials[1]
            for r in range {
                let xr = x + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
                let center = Vector(repeating: mean[r]), s = rstd[r]
                let sumG = VectorMath.dot(dyr, weight, count: columns)
                let sumGX = VectorMath.reduce(count: columns) { i in
                    VectorMath.load(dyr + i) * VectorMath.load(weight + i) * (VectorMath.load(xr + i) - center)
                } tail: { i, lanes in
                    VectorMath.load(dyr + i, count: lanes) * VectorMath.load(weight + i, count: lanes)
                        * (VectorMath.load(xr + i, count: lanes) - center)
                } * s
                let shift = Vector(repeating: -sumG / n), slope = Vector(repeating: -sumGX / n)
                VectorMath.forEachVector(columns) { c, lanes in
                    let g = VectorMath.load(dyr + c, count: lanes)
                    let xhat = (VectorMath.load(xr + c, count: lanes) - center) * s
                    let gradient = shift.addingProduct(g, VectorMath.load(weight + c, count: lanes)).addingProduct(xhat, slope)
                    VectorMath.store(gradient * s, dxr + c, count: lanes)
                    let w = VectorMath.load(partialWeight + c, count: lanes).addingProduct(g, xhat)
                    VectorMath.store(w, partialWeight + c, count: lanes)
                    VectorMath.store(VectorMath.load(partialBias + c, count: lanes) + g, partialBias + c, count: lanes)
                }
            }
        }
    }

    /// RMSNorm over the last dimension as in Llama: `y = x · rstd · weight`, `rstd = 1/√(mean(x²) + ε)`.
    /// - Parameters: `x`, `y` `[rows, columns]` (`y` may alias `x`); `weight` `[columns]`; `rstd` `[rows]` (written).
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, epsilon: Float, pool: ComputePool = .serial
    ) {
        let n = Float(columns)
        forEachRowRange(rows: rows, columns: columns, pool: pool) { range in
            for r in range {
                let xr = x + r * columns, yr = y + r * columns
                let s = 1 / (VectorMath.dot(xr, xr, count: columns) / n + epsilon).squareRoot()
                rstd[r] = s
                VectorMath.map(xr, weight, into: yr, count: columns) { v, w in v * s * w }
            }
        }
    }

    /// Backward of ``rmsNorm(_:weight:into:rstd:rows:columns:epsilon:pool:)``:
    /// `dx = dy·weight·rstd − x·rstd³·mean(dy·weight·x)`. Writes `dx` (may alias `dy`); accumulates
    /// `dWeight += Σ dy·x·rstd` (summed in fixed row blocks, so every pool gives the same bits).
    public static func rmsNormBackward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
        pool: ComputePool = .serial
    ) {
        let n = Float(columns)
        RowBlocks.sumColumns(rows: rows, columns: columns, into: [dWeight], pool: pool) { range, partials in
            let partialWeight = partials[0]
            for r in range {
                let xr = x + r * columns, dyr = dy + r * columns, dxr = dx + r * columns
                let s = rstd[r]
                let dot = VectorMath.reduce(count: columns) { i in
                    VectorMath.load(dyr + i) * VectorMath.load(weight + i) * VectorMath.load(xr + i)
                } tail: { i, lanes in
                    VectorMath.load(dyr + i, count: lanes) * VectorMath.load(weight + i, count: lanes)
                        * VectorMath.load(xr + i, count: lanes)
                }
                let slope = Vector(repeating: -dot * s * s * s / n)
                VectorMath.forEachVector(columns) { c, lanes in
                    let v = VectorMath.load(xr + c, count: lanes), g = VectorMath.load(dyr + c, count: lanes)
                    let gradient = (g * VectorMath.load(weight + c, count: lanes) * s).addingProduct(v, slope)
                    VectorMath.store(gradient, dxr + c, count: lanes)
                    let w = VectorMath.load(partialWeight + c, count: lanes).addingProduct(g, v * s)
                    VectorMath.store(w, partialWeight + c, count: lanes)
                }
            }
        }
    }
}
