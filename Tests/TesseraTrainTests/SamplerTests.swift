import Foundation
import Testing
import TesseraTrain

@Suite struct SamplerTests {
    /// Probabilities 0.5, 0.3, 0.2 at temperature 1.
    let logits: [Float] = [log(0.3), log(0.5), log(0.2)]

    func draws(_ options: SamplingOptions, count: Int = 4000) -> [Int32] {
        let sampler = Sampler(options: options)
        return logits.withUnsafeBufferPointer { l in (0..<count).map { sampler.sample(l, draw: $0) } }
    }

    @Test func temperatureZeroIsTheArgmaxWithTheLowestIdOnTies() {
        #expect(Set(draws(SamplingOptions(temperature: 0, seed: 9), count: 50)) == [1])
        let tied: [Float] = [1, 3, 3, 2]
        #expect(tied.withUnsafeBufferPointer { Sampler(options: SamplingOptions()).sample($0, draw: 0) } == 1)
    }

    @Test func frequenciesFollowTheSoftmax() {
        let counts = draws(SamplingOptions(temperature: 1, seed: 1)).reduce(into: [Int32: Int]()) { $0[$1, default: 0] += 1 }
        // 4000 draws: standard deviations are below 32, so ±100 is a generous but discriminating band.
        #expect(abs(counts[1, default: 0] - 2000) < 100)
        #expect(abs(counts[0, default: 0] - 1200) < 100)
        #expect(abs(counts[2, default: 0] - 800) < 100)
    }

    @Test func aLowTemperatureSharpens() {
        let counts = draws(SamplingOptions(temperature: 0.25, seed: 1)).reduce(into: [Int32: Int]()) { $0[$1, default: 0] += 1 }
        // (0.5/0.3)^4 ≈ 7.7: token 1 dominates.
        #expect(counts[1, default: 0] > 3000)
    }

    @Test func topKAndTopPCutTheTail() {
        #expect(Set(draws(SamplingOptions(temperature: 1, topK: 1, seed: 3))) == [1])
        #expect(Set(draws(SamplingOptions(temperature: 1, topK: 2, seed: 3))) == [0, 1])
        // Cumulative 0.5 reaches p = 0.5 with token 1 alone; p = 0.6 needs token 0 too.
        #expect(Set(draws(SamplingOptions(temperature: 1, topP: 0.5, seed: 3))) == [1])
        #expect(Set(draws(SamplingOptions(temperature: 1, topP: 0.6, seed: 3))) == [0, 1])
        #expect(Set(draws(SamplingOptions(temperature: 1, topP: 1, seed: 3))) == [0, 1, 2])
    }

    @Test func aSeedFixesTheDrawsAndAnotherSeedChangesThem() {
        let options = SamplingOptions(temperature: 1, seed: 42)
        #expect(draws(options, count: 200) == draws(options, count: 200))
        var other = options
        other.seed = 43
        #expect(draws(options, count: 200) != draws(other, count: 200))
    }

    @Test func invalidOptionsNameTheFlag() {
        #expect(throws: TrainingError.invalidOption(option: TrainingSetting.topP.name, reason: "1.5 must lie in (0, 1]")) {
            try SamplingOptions(temperature: 1, topP: 1.5).validate()
        }
        #expect(throws: TrainingError.self) { try SamplingOptions(temperature: -1).validate() }
        #expect(throws: TrainingError.self) { try SamplingOptions(topK: 0).validate() }
    }
}
