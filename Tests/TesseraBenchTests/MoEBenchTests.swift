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

/// The whole-model rows: both layouts train the same job (equal losses), and only expert parallelism spends time in
/// the all-to-alls.
@Test func moeBenchTrainsTheWholeModelAtBothLayouts() throws {
    let comparison = try MoEBench.measureModel(configName: "tiny-moe", batch: 2, sequenceLength: 8, cores: 2, rounds: 2, warmup: 1,
                                               steps: 1) { _ in }
    #expect(comparison.single.ep == 1 && comparison.parallel.ep == 2 && comparison.parallel.threadsPerRank == 1)
    #expect(comparison.lossesMatch && comparison.singleLosses.count == 1 && comparison.speedRatio > 0)
    #expect(comparison.single.allToAllShare == 0 && comparison.parallel.allToAllShare > 0)
    // Waiting for the peer is part of the all-to-all time, and only expert parallelism has a peer.
    #expect(comparison.single.allToAllWaitShare == nil)
    #expect(comparison.parallel.allToAllWaitShare.map { $0 >= 0 && $0 <= comparison.parallel.allToAllShare } == true)
    #expect(comparison.table().contains("ep=2 (2 ranks × 1 thread)") && comparison.table().contains("losses match"))
    // The balance line: both ranks' own work and waiting, and every layer's 16 tokens × top-2 rows split over the ranks.
    let balance = comparison.balance
    #expect(balance.computeMilliseconds.count == 2 && balance.computeMilliseconds.allSatisfy { $0 > 0 })
    #expect(balance.waitMilliseconds.count == 2 && balance.waitMilliseconds.allSatisfy { $0 >= 0 })
    #expect(balance.expertRows.count == 2 && balance.expertRows.allSatisfy { $0.count == 2 && $0.reduce(0, +) == 32 })
    #expect(balance.expertImbalance >= 1 && comparison.table().contains("expert rows per layer"))
}

/// The forced-balance rows: the same job with the router forced round-robin, so every layer splits its rows evenly
/// over the expert-parallel ranks (imbalance exactly 1), both layouts still equal, and the table says which router ran.
@Test func moeBenchForcedBalanceRowsSplitTheRowsEvenly() throws {
    let comparison = try MoEBench.measureModel(configName: "tiny-moe", batch: 2, sequenceLength: 8, cores: 2, rounds: 1, warmup: 1,
                                               steps: 1, variant: .forcedBalance) { _ in }
    #expect(comparison.variant.forcesLoadBalance && comparison.lossesMatch)
    #expect(comparison.balance.expertRows.count == 2 && comparison.balance.expertRows.allSatisfy { $0 == [16, 16] })
    #expect(comparison.balance.expertImbalance == 1)
    #expect(comparison.table().contains("router FORCED to balance"))
}
