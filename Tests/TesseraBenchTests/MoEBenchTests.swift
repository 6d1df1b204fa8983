import Testing
import TesseraBench

/// `tessera bench moe` on a tiny layer: both layouts run, count every routed token, and the table shows them.
@Test func moeBenchMeasuresBothLayoutsAndTheGroupedProduct() throws {
    var shape = MoEBench.Shape()
    (shape.hidden, shape.intermediate, shape.tokens) = (16, 32, 32)
    let report = try MoEBench.run(shape: shape, cores: 2, rounds: 1, steps: 1, machine: "test")
    #expect(report.single.ep == 1 && report.parallel.ep == 2)
    #expect(report.single.tokensPerExpert.reduce(0, +) == 64 && report.parallel.tokensPerExpert.reduce(0, +) == 64)
    #expect(report.single.allToAllShare == 0 && report.parallel.allToAllShare > 0)
    #expect(report.grouped.gflops > 0 && report.grouped.sgemmGflops > 0)
    #expect(report.table().contains("ep=2 (2 ranks × 1 thread)"))
}
