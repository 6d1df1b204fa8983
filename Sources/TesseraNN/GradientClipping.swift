import TesseraTensor

/// Global gradient-norm clipping with the semantics of `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
    /// Σ g² over the local gradients that count in the global norm (``ParameterSpec/countsInGlobalNorm``),
    /// in Double. Summing this over the ranks that together hold one model gives the global Σ g².
    public static func localSumOfSquares(_ store: ParameterStore) -> Double {
        store.parameters.reduce(0.0) { total, p in
            guard p.spec.countsInGlobalNorm else { return total }
            return total + Kernels.sumOfSquares(p.gradient.baseAddress!, count: p.count)
        }
    }

    /// Computes the global L2 norm and, when it exceeds `maxNorm`, scales every local gradient by
    /// `maxNorm / (norm + 1e-6)` as PyTorch does. Returns the norm before clipping.
    /// - Parameters:
    ///   - maxNorm: the threshold; `nil` or a non-positive value only measures.
    ///   - sumAcrossRanks: sums a local Σ g² over the ranks that hold the other parts of the model
    ///     (the identity on one device).
    public static func clip(_ store: ParameterStore, maxNorm: Float?, sumAcrossRanks: (Double) throws -> Double) rethrows -> Float {
        let norm = Float(try sumAcrossRanks(localSumOfSquares(store)).squareRoot())
        if let maxNorm, maxNorm > 0 {
            let coefficient = maxNorm / (norm + 1e-6)
            if coefficient < 1 { Kernels.scale(store.gradients.pointer, by: coefficient, count: store.count) }
        }
        return norm
    }

    /// ``clip(_:maxNorm:sumAcrossRanks:)`` on one device.
    public static func clip(_ store: ParameterStore, maxNorm: Float?) -> Float {
        clip(store, maxNorm: maxNorm, sumAcrossRanks: { $0 })
    }
}
