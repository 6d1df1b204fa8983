/// The candidate sets of top-k and nucleus sampling, found without sorting the whole vocabulary.
extension Sampler {
    /// The order in which candidates are ranked: higher logit first, the lower id first among equals.
    static func ranksHigher(_ logits: UnsafeBufferPointer<Float>, _ a: Int, _ b: Int) -> Bool {
        logits[a] != logits[b] ? logits[a] > logits[b] : a < b
    }

    /// The ids of the `count` highest-ranked logits, highest first, in the order of ``ranksHigher(_:_:_:)`` (none
    /// for a `count` of 0; all of them for one above the vocabulary size). Top-k sampling's candidates, and the
    /// alternatives a server reports with `top_logprobs`.
    ///
    /// Expected O(V + count · log count): a quickselect finds the `count`-th largest value, and only the ids
    /// at or above it are sorted (a full sort when `count` is a large share of the vocabulary).
    package static func mostProbable(_ logits: UnsafeBufferPointer<Float>, count: Int) -> [Int] {
        let count = min(count, logits.count)
        guard count > 0 else { return [] }
        guard count * 8 < logits.count else {
            return Array(Array(logits.indices).sorted { ranksHigher(logits, $0, $1) }.prefix(count))
        }
        var values = Array(logits)
        let threshold = kthLargest(&values, k: count)
        var chosen = [Int](), tied = [Int]()
        chosen.reserveCapacity(count)
        for id in logits.indices {
            if logits[id] > threshold { chosen.append(id) } else if logits[id] == threshold { tied.append(id) }
        }
        // Among equals the lower ids rank higher, and `tied` is in id order.
        chosen += tied.prefix(count - chosen.count)
        return chosen.sorted { ranksHigher(logits, $0, $1) }
    }

    /// The `k`-th largest (from 1) of `values`, which it reorders: quickselect with Hoare's partition around
    /// the middle element, descending.
    package static func kthLargest(_ values: inout [Float], k: Int) -> Float {
        precondition(k >= 1 && k <= values.count, "k = \(k) outside 1...\(values.count)")
        var low = 0, high = values.count - 1
        let target = k - 1
        while low < high {
            let pivot = values[(low + high) / 2]
            var i = low, j = high
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now values[low...j] ≥ pivot ≥ values[i...high], and everything between equals the pivot.
            if target <= j { high = j } else if target >= i { low = i } else { return values[target] }
        }
        return values[target]
    }

    /// How many leading `weights` (descending) the nucleus keeps: the fewest whose share of `total` reaches
    /// `p`; `nil` when all of them together fall short.
    static func nucleusCount(_ weights: [Double], total: Double, p: Float) -> Int? {
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w / total
            if cumulative >= Double(p) { return i + 1 }
        }
        return nil
    }

    /// The nucleus for `p` < 1 over the whole vocabulary: its ids (highest-ranked first) and their weights.
    /// Candidates are ranked 64 at a time, then 8× as many, until their share of the vocabulary's total weight
    /// (summed in id order) reaches `p`; all of them when rounding keeps the share below it.
    static func nucleus(_ logits: UnsafeBufferPointer<Float>, p: Float,
                        weight: (Int) -> Double) -> (order: [Int], weights: [Double]) {
        let total = logits.indices.reduce(0.0) { $0 + weight($1) }
        var count = min(64, logits.count)
        while true {
            var order = mostProbable(logits, count: count)
            var weights = order.map(weight)
            if let keep = nucleusCount(weights, total: total, p: p) {
                order.removeSubrange(keep...)
                weights.removeSubrange(keep...)
                return (order, weights)
            }
            if count == logits.count { return (order, weights) }
            count = min(logits.count, count * 8)
        }
    }
}
