import Foundation
import Testing
import TesseraTensor
import TesseraTrain

/// The candidate search of top-k and nucleus sampling against a full sort of the vocabulary.
@Suite struct SamplerCandidateTests {
    /// 3000 logits with many ties (values on a grid of 0.25).
    static let logits: [Float] = {
        let random = DeterministicRandom(seed: 5, stream: "sampler-candidates")
        return (0..<3000).map { (random.normal(at: $0) * 12).rounded() / 4 }
    }()

    /// The sampler as its contract reads, with the whole vocabulary sorted (ties by the lower id).
    static func reference(_ logits: [Float], _ options: SamplingOptions, draw: Int,
                          tiesByLowerID: Bool = true) -> Int32 {
        let top = Double(logits.max()!), temperature = Double(options.temperature)
        let weight = { (id: Int) in exp((Double(logits[id]) - top) / temperature) }
        let topP = options.topP.flatMap { $0 < 1 ? $0 : nil }
        var order = Array(logits.indices)
        if options.topK != nil || topP != nil {
            order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : (tiesByLowerID ? $0 < $1 : $0 > $1) }
        }
        if let k = options.topK { order = Array(order.prefix(k)) }
        var weights = order.map(weight)
        if let p = topP {
            let total = options.topK == nil ? logits.indices.reduce(0.0) { $0 + weight($1) } : weights.reduce(0, +)
            var cumulative = 0.0, keep = weights.count
            for (i, w) in weights.enumerated() {
                cumulative += w / total
                if cumulative >= Double(p) {
                    keep = i + 1
                    break
                }
            }
            order = Array(order.prefix(keep))
            weights = Array(weights.prefix(keep))
        }
        let target = Double(DeterministicRandom(seed: options.seed, stream: "sampling").uniform(at: draw)) * weights.reduce(0, +)
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            if target < cumulative { return Int32(order[i]) }
        }
        return Int32(order[weights.count - 1])
    }

    @Test func theMostProbableAreTheFullSortsPrefix() {
        let logits = Self.logits
        let sorted = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        for count in [1, 2, 7, 64, 100, 374, 375, 999, 3000, 5000] {
            let found = logits.withUnsafeBufferPointer { Sampler.mostProbable($0, count: count) }
            #expect(found == Array(sorted.prefix(count)), "count \(count)")
        }
    }

    @Test func theKthLargestIsTheSortedValue() {
        let descending = Self.logits.sorted(by: >)
        for k in [1, 2, 500, 1501, 2999, 3000] {
            var values = Self.logits
            #expect(Sampler.kthLargest(&values, k: k) == descending[k - 1], "k \(k)")
        }
    }

    @Test func samplingEqualsTheFullSortForEveryCut() {
        let cuts: [(Int?, Float?)] = [(1, nil), (5, nil), (50, nil), (2999, nil), (nil, 0.1), (nil, 0.5), (nil, 0.9),
                                      (nil, 0.999), (nil, 1), (40, 0.8), (400, 0.95), (nil, nil)]
        var differsWithWrongTies = false
        Self.logits.withUnsafeBufferPointer { logits in
            for (k, p) in cuts {
                for temperature: Float in [0.3, 1, 2] {
                    let options = SamplingOptions(temperature: temperature, topK: k, topP: p, seed: 11)
                    let sampler = Sampler(options: options)
                    for draw in 0..<40 {
                        let token = sampler.sample(logits, draw: draw)
                        #expect(token == Self.reference(Self.logits, options, draw: draw), "top-k \(String(describing: k)), top-p \(String(describing: p)), T \(temperature), draw \(draw)")
                        if token != Self.reference(Self.logits, options, draw: draw, tiesByLowerID: false) { differsWithWrongTies = true }
                    }
                }
            }
        }
        // The comparison can fail: ranking equal logits by the higher id picks other tokens.
        #expect(differsWithWrongTies)
    }
}
