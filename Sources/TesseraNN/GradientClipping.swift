import TesseraTensor

/// Global gradient-norm clipping with the semantics of `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
    /// Σ g² over the local gradients that count in the global norm (``ParameterSpec/countsInGlobalNorm``),
    /// in Double. Summing this over the ranks that together hold one model gives the global Σ g².
    /// - Parameters:
    ///   - ranges: only these flat ranges of the store (ascending, disjoint; a ZeRO-1 rank's slices); `nil`: every gradient.
    ///   - including: which parameters to count (default all).
    public static func localSumOfSquares(_ store: ParameterStore, ranges: [Range<Int>]? = nil,
                                         backend: any ComputeBackend = CPUBackend.serial,
                                         including: (ParameterSpec) -> Bool = { _ in true }) -> Double {
        store.parameters.reduce(0.0) { total, p in
            guard p.spec.countsInGlobalNorm, including(p.spec) else { return total }
            guard let ranges else { return total + backend.sumOfSquares(p.gradient.baseAddress!, count: p.count) }
            let own = p.offset..<p.offset + p.count
            return ranges.reduce(total) { sum, range in
                let part = own.clamped(to: range)
                return part.isEmpty ? sum : sum + backend.sumOfSquares(store.gradients.pointer + part.lowerBound, count: part.count)
            }
        }
    }

    /// Computes the global L2 norm and, when it exceeds `maxNorm`, scales every local gradient by
    /// `maxNorm / (norm + 1e-6)` as PyTorch does. Returns the norm before clipping.
    /// - Parameters:
    ///   - ranges: the flat ranges this rank holds (as in ``localSumOfSquares(_:ranges:)``); only they are
    ///     measured and scaled. `nil`: the whole store.
    ///   - maxNorm: the threshold; `nil` or a non-positive value only measures.
    ///   - sumAcrossRanks: sums a local Σ g² over the ranks that hold the other parts of the model
    ///     (the identity on one device).
    public static func clip(_ store: ParameterStore, ranges: [Range<Int>]? = nil, maxNorm: Float?,
                            backend: any ComputeBackend = CPUBackend.serial, sumAcrossRanks: (Double) throws -> Double) rethrows -> Float {
        let norm = try self.norm(store, ranges: ranges, backend: backend, sumAcrossRanks: sumAcrossRanks)
        let coefficient = self.coefficient(norm: norm, maxNorm: maxNorm)
        if coefficient < 1 {
            for range in ranges ?? [0..<store.count] {
                backend.scale(store.gradients.pointer + range.lowerBound, by: coefficient, count: range.count)
            }
        }
        return norm
    }

    /// The global L2 norm of the gradients (the first half of ``clip(_:ranges:maxNorm:sumAcrossRanks:)``).
    public static func norm(_ store: ParameterStore, ranges: [Range<Int>]? = nil, backend: any ComputeBackend = CPUBackend.serial,
                            sumAcrossRanks: (Double) throws -> Double) rethrows -> Float {
        try norm(store, ranges: ranges, backend: backend, experts: { $0 }, sumAcrossRanks: sumAcrossRanks)
    }

    /// The global L2 norm with expert parallelism: `experts` sums the local Σ g² of expert weights
    /// (``ParameterSpec/isExpert``) over the ranks holding the other experts, before `sumAcrossRanks` adds it to the
    /// dense part's.
    public static func norm(_ store: ParameterStore, ranges: [Range<Int>]? = nil, backend: any ComputeBackend = CPUBackend.serial,
                            experts: (Double) throws -> Double, sumAcrossRanks: (Double) throws -> Double) rethrows -> Float {
        let dense = localSumOfSquares(store, ranges: ranges, backend: backend) { !$0.isExpert }
        let expert = try experts(localSumOfSquares(store, ranges: ranges, backend: backend) { $0.isExpert })
        return Float(try sumAcrossRanks(dense + expert).squareRoot())
    }

    /// The factor clipping multiplies every gradient by: `maxNorm / (norm + 1e-6)` when that is below 1,
    /// otherwise 1 (also when `maxNorm` is `nil` or not positive). An optimizer may apply it as it reads the
    /// gradients (``AdamW/step(_:learningRate:gradientScale:)``) instead of scaling them in a pass of their own.
    public static func coefficient(norm: Float, maxNorm: Float?) -> Float {
        guard let maxNorm, maxNorm > 0 else { return 1 }
        return min(1, maxNorm / (norm + 1e-6))
    }

    /// ``clip(_:ranges:maxNorm:sumAcrossRanks:)`` on one device.
    public static func clip(_ store: ParameterStore, maxNorm: Float?) -> Float {
        clip(store, maxNorm: maxNorm, sumAcrossRanks: { $0 })
    }
}
