import Testing
import TesseraBench

/// `bench generate` settles before each run: /proc/stat's aggregate line read as (idle + iowait, total) jiffies and
/// the idle fraction between two readings; a text without the line, or with fields missing, reads as nothing.
@Suite struct QuietMachineTests {
    @Test func theAggregateLineGivesIdleAndTotalJiffies() throws {
        let stat = "cpu  100 5 20 800 10 1 2 3 0 0\ncpu0 50 2 10 400 5 0 1 1 0 0\nintr 123\n"
        let times = try #require(QuietMachine.cpuTimes(stat: stat))
        #expect(times.idle == 810 && times.total == 941)
        #expect(QuietMachine.cpuTimes(stat: "cpu0 50 2 10 400 5 0 1 1\n") == nil)
        #expect(QuietMachine.cpuTimes(stat: "cpu  100 5 20\n") == nil)
        #expect(QuietMachine.cpuTimes(stat: "") == nil)
    }

    @Test func theIdleFractionIsIdleTimeOverAllTimeBetweenReadings() {
        // 200 jiffies passed, 190 of them idle: 95 %; a busy interval (50 of 200) and no interval at all.
        #expect(QuietMachine.idleFraction(from: (810, 941), to: (1000, 1141)) == 0.95)
        #expect(QuietMachine.idleFraction(from: (810, 941), to: (860, 1141)) == 0.25)
        #expect(QuietMachine.idleFraction(from: (810, 941), to: (810, 941)) == nil)
        #expect(QuietMachine.settle(idle: 0, window: .milliseconds(10), limit: .seconds(1)))
    }
}
