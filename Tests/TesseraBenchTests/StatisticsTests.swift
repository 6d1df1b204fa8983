import Testing
import TesseraBench

@Suite struct StatisticsTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(BenchStatistics.median([3, 1, 2]) == 2)
        #expect(BenchStatistics.median([4, 1, 3, 2]) == 2.5)
        #expect(BenchStatistics.median([]).isNaN)
    }

    @Test func middleTakesTheUpperOfAnEvenCount() {
        #expect(BenchStatistics.middle([4, 1, 3, 2]) == 3)
        #expect(BenchStatistics.middle([5]) == 5)
    }

    /// Non-vacuity: a mean in the median's place would let one preempted call move the figure.
    @Test func medianIgnoresAnOutlierThatMovesTheMean() {
        let times = [1.0, 1.1, 0.9, 1.0, 50.0]
        #expect(BenchStatistics.median(times) == 1.0)
        let mean = times.reduce(0, +) / Double(times.count)
        #expect(abs(mean - 1.0) > 1)
    }

    @Test func durationInSeconds() {
        #expect(BenchStatistics.seconds(.milliseconds(1500)) == 1.5)
        #expect(abs(BenchStatistics.seconds(.nanoseconds(250)) - 250e-9) < 1e-15)
    }
}

@Suite struct PairedTimerTests {
    /// A fake clock that records which side ran: pairs alternate which goes first.
    @Test func pairsAlternateWhichSideGoesFirst() {
        var order: [String] = []
        _ = PairedTimer(repeats: 4, { order.append("call") }, peer: { order.append("peer") }, now: { 0 })
        #expect(order == ["call", "peer", "peer", "call", "call", "peer", "peer", "call"])
    }

    /// The ratio is a median of per-pair ratios: a load spike that slows both calls of one pair leaves it alone,
    /// while a ratio of medians would move.
    @Test func ratioIsTheMedianOfPairedRatios() {
        // Durations in call order; per pair call 1 s, peer 2 s, except a 10× slower pair in the middle.
        var durations: [Double] = [1, 2, 2, 1, 10, 20, 2, 1, 1, 2]
        var reading = 0.0, started = false
        let timer = PairedTimer(repeats: 5, {}, peer: {}, now: {
            if started { reading += durations.removeFirst() }
            started.toggle()
            return reading
        })
        #expect(timer.times == [1, 1, 10, 1, 1])
        #expect(timer.peerTimes == [2, 2, 20, 2, 2])
        #expect(timer.ratio == 2)
        #expect(timer.median == 1 && timer.peerMedian == 2)
    }

    /// Non-vacuity: with the real clock a slower peer gives a ratio above 1 and a slower call one below 1.
    @Test func ratioSeesWhichSideIsSlower() {
        func spin(_ n: Int) { var x = 0.0; for i in 0..<n { x += Double(i).squareRoot() }; #expect(x >= 0) }
        let slowPeer = PairedTimer(repeats: 5, { spin(20_000) }, peer: { spin(200_000) })
        let slowCall = PairedTimer(repeats: 5, { spin(200_000) }, peer: { spin(20_000) })
        #expect(slowPeer.ratio > 2)
        #expect(slowCall.ratio < 0.5)
    }
}
