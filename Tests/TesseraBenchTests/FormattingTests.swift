import Testing
import TesseraBench

@Suite struct FormattingTests {
    @Test func alignedRightAlignsEveryColumnToItsWidestCell() {
        let lines = BenchText.aligned([["ranks", "size"], ["2", "64 MiB"], ["16", "4 KiB"]])
        #expect(lines == ["ranks    size", "    2  64 MiB", "   16   4 KiB"])
    }

    @Test func sizesUseTheLargestUnitThatDivides() {
        #expect(BenchText.size(4096) == "4 KiB")
        #expect(BenchText.size(64 << 20) == "64 MiB")
        #expect(BenchText.size(1 << 30) == "1 GiB")
        #expect(BenchText.size((1 << 20) + 4) == "1048580 B")
        #expect(BenchText.size(100) == "100 B")
    }

    @Test func numbersRatesAndPercentages() {
        #expect(BenchText.fixed(3.14159, 2) == "3.14")
        #expect(BenchText.number(nil, 1) == "–")
        #expect(BenchText.rate(12.345) == "12.35")
        #expect(BenchText.percent(0.874) == "87%")
        #expect(BenchText.percent(nil) == "–")
    }

    @Test func cellsPadRoundAndMarkMissingValues() {
        #expect(BenchText.cell(1.2345, 8, 3) == "   1.235")
        #expect(BenchText.cell(0.05, 0, 2) == "0.05")
        #expect(BenchText.cell(2, 3, 0) == "  2")
        #expect(BenchText.cell(-3.44, 6, 1) == "  -3.4")
        #expect(BenchText.cell(-0.3, 4, 1) == "-0.3")
        #expect(BenchText.cell(-0.01, 3, 1) == "0.0")
        #expect(BenchText.cell(nil, 5, 2) == "  n/a")
        #expect(BenchText.cell(.infinity, 3, 2) == "n/a")
    }
}

@Suite struct MachineInfoTests {
    @Test func peakResidentReadsVmHWMInKilobytes() {
        let status = "Name:\ttessera\nVmPeak:\t  900000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t    1000 kB\n"
        #expect(MachineInfo.peakResidentBytes(status: status) == 1234 * 1024)
    }

    /// Non-vacuity: the neighbouring lines (VmPeak is virtual, VmRSS current) must not be read instead.
    @Test func peakResidentIsZeroWithoutVmHWM() {
        #expect(MachineInfo.peakResidentBytes(status: "VmPeak:\t  900000 kB\nVmRSS:\t    1000 kB\n") == 0)
        #expect(MachineInfo.peakResidentBytes(status: "VmHWM:\t  lots kB\n") == 0)
    }

    @Test func peakResidentOfThisProcessCoversAnArrayItTouched() {
        let bytes = 32 << 20
        let array = [UInt8](repeating: 1, count: bytes)
        #expect(MachineInfo.peakResidentBytes() >= bytes)
        #expect(array.last == 1)
    }

    @Test func cpuModelComesFromTheFirstModelName() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nprocessor\t: 1\nmodel name\t: Other\n"
        #expect(MachineInfo.cpuModel(cpuinfo: cpuinfo) == "Example CPU @ 2.0GHz")
        #expect(MachineInfo.cpuModel(cpuinfo: "processor\t: 0\n") == "unknown CPU")
        #expect(MachineInfo.description(cores: 3).hasSuffix(", 3 cores"))
    }
}
