import Foundation
import Testing
import TesseraServe
import TesseraTrain

/// Log-probabilities against a float64 reference; penalties; the top-k order.
@Suite struct TokenChooserTests {
    let logits: [Float] = [1.5, -2, 3.25, 3.25, 0, 7, -1]

    @Test func logprobsMatchAFloat64Reference() {
        var chooser = TokenChooser(SequenceRequest(prompt: [1], maxTokens: 1, topLogprobs: 3))
        let token = chooser.next(logits)
        let norm = log(logits.map { exp(Double($0)) }.reduce(0, +))
        #expect(token.id == 5)
        #expect(abs(Double(token.logprob!) - (7 - norm)) < 1e-5)
        #expect(token.top.map(\.id) == [5, 2, 3])
        for top in token.top { #expect(abs(Double(top.logprob) - (Double(logits[Int(top.id)]) - norm)) < 1e-5) }
    }

    @Test func mostLikelyOrdersByValueThenIndex() {
        func mostLikely(_ values: [Float], count: Int) -> [Int] {
            values.withUnsafeBufferPointer { Sampler.mostProbable($0, count: count) }
        }
        #expect(mostLikely(logits, count: 4) == [5, 2, 3, 0])
        #expect(mostLikely(logits, count: 0).isEmpty)
        #expect(mostLikely([1, 1, 1], count: 2) == [0, 1])
    }

    @Test func penaltiesSteerAwayFromRepeats() {
        var plain = TokenChooser(SequenceRequest(prompt: [1], maxTokens: 4))
        var penalized = TokenChooser(SequenceRequest(prompt: [1], maxTokens: 4, presencePenalty: 2, frequencyPenalty: 2))
        let repeated = (0..<3).map { _ in plain.next(logits).id }
        let varied = (0..<3).map { _ in penalized.next(logits).id }
        #expect(repeated == [5, 5, 5])
        #expect(varied == [5, 2, 3])
    }
}
