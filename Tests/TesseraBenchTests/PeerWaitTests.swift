import Testing
import TesseraBench
import TesseraCollectives
import TesseraTrain

/// Lining up two ranks' call logs: each call's waiting is its last member's arrival minus its own.
@Test func peerWaitIsTheLastArrivalMinusOwnArrival() {
    typealias Call = CommunicationMeter.Call
    // Rank 0 reaches both ep calls first (by 3 and 0 µs) and the dp call 5 µs after rank 1.
    let rank0 = [Call(group: "ep[dp=0]", start: 1_000, end: 5_000), Call(group: "dp[ep=0]", start: 6_000, end: 7_000),
                 Call(group: "ep[dp=0]", start: 8_000, end: 9_000)]
    let rank1 = [Call(group: "ep[dp=0]", start: 4_000, end: 5_000), Call(group: "dp[ep=0]", start: 1_000, end: 7_000),
                 Call(group: "ep[dp=0]", start: 8_000, end: 9_000)]
    let waits = PeerWait.seconds(of: 0, logs: [rank0, rank1], window: 0..<10_000)
    #expect(waits == ["ep": 3e-6, "dp": 0])
    #expect(PeerWait.seconds(of: 1, logs: [rank0, rank1], window: 0..<10_000) == ["ep": 0, "dp": 5e-6])
    // Only calls that begin in the window count; a call is matched by its index on its group, not by time.
    #expect(PeerWait.seconds(of: 0, logs: [rank0, rank1], window: 7_000..<10_000) == ["ep": 0])
    // A non-blocking start (1 µs long) made 5 µs before its peer's waited only its own microsecond.
    let start = [Call(group: "dp[ep=0]", start: 1_000, end: 2_000)], late = [Call(group: "dp[ep=0]", start: 6_000, end: 6_500)]
    #expect(PeerWait.seconds(of: 0, logs: [start, late], window: 0..<10_000) == ["dp": 1e-6])
    // Matching the second ep call with the first (the mistake of lining up by position in the whole log) is caught.
    #expect(PeerWait.seconds(of: 0, logs: [rank0, Array(rank1.reversed())], window: 0..<10_000) != waits)
}

/// A meter keeps each call (group, start, end) only when asked to.
@Test func meterLogsCallsOnlyWhenAsked() throws {
    let logs = try ThreadGroup.run(ranks: 2) { world -> [[CommunicationMeter.Call]] in
        let logging = CommunicationMeter(logsCalls: true), plain = CommunicationMeter()
        try MeteredCommunicator(world, meter: logging).barrier()
        try MeteredCommunicator(world, meter: plain).barrier()
        return [logging.calls, plain.calls]
    }
    for log in logs {
        #expect(log[0].count == 1 && log[0][0].group == "world" && log[0][0].end >= log[0][0].start)
        #expect(log[1].isEmpty)
    }
}
