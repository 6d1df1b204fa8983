import Foundation
import Testing
import TesseraPipeline

/// The compute actions of a rank, as labels (`F0`, `B1.1`, `W2`), transfers left out.
func computeLabels(_ schedule: PipelineSchedule, rank: Int) -> [String] {
    schedule.actions[rank].filter { $0.compute != nil }.map(\.label)
}

@Suite struct ScheduleGenerationTests {
    @Test func gpipeRunsAllForwardsThenAllBackwards() throws {
        let schedule = try PipelineSchedule(.gpipe, stages: 3, microBatches: 3)
        for rank in 0..<3 { #expect(computeLabels(schedule, rank: rank) == ["F0", "F1", "F2", "B0", "B1", "B2"]) }
    }

    /// 1F1B, p = 3, m = 4, worked by hand: rank r warms up with p − r − 1 forwards.
    @Test func oneForwardOneBackwardWarmsUpWithPMinusRankMinusOneForwards() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 3, microBatches: 4)
        #expect(computeLabels(schedule, rank: 0) == ["F0", "F1", "F2", "B0", "F3", "B1", "B2", "B3"])
        #expect(computeLabels(schedule, rank: 1) == ["F0", "F1", "B0", "F2", "B1", "F3", "B2", "B3"])
        #expect(computeLabels(schedule, rank: 2) == ["F0", "B0", "F1", "B1", "F2", "B2", "F3", "B3"])
    }

    /// Every transfer sits right after its producer (send) and right before its consumer (receive).
    @Test func transfersSurroundTheComputeThatProducesAndConsumesThem() throws {
        let schedule = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 1)
        let rank0 = PipelineLocation(rank: 0, chunk: 0), rank1 = PipelineLocation(rank: 1, chunk: 0)
        let activation = PipelineTransfer(kind: .activation, microBatch: 0, source: rank0, destination: rank1)
        let gradient = PipelineTransfer(kind: .gradient, microBatch: 0, source: rank1, destination: rank0)
        #expect(schedule.actions[0] == [.forward(microBatch: 0, chunk: 0), .send(activation),
                                        .receive(gradient), .backward(microBatch: 0, chunk: 0)])
        #expect(schedule.actions[1] == [.receive(activation), .forward(microBatch: 0, chunk: 0),
                                        .backward(microBatch: 0, chunk: 0), .send(gradient)])
        #expect(schedule.tag(of: activation) != schedule.tag(of: gradient))
    }

    /// Interleaved, p = 2, m = 2, v = 2, worked by hand from Megatron's rule: warm-up 2(p − r − 1) + (v − 1)p.
    @Test func interleavedFollowsMegatronOrdering() throws {
        let schedule = try PipelineSchedule(.interleaved, stages: 2, microBatches: 2, virtualStages: 2)
        #expect(computeLabels(schedule, rank: 0) == ["F0", "F1", "F0.1", "F1.1", "B0.1", "B1.1", "B0", "B1"])
        #expect(computeLabels(schedule, rank: 1) == ["F0", "F1", "F0.1", "B0.1", "F1.1", "B1.1", "B0", "B1"])
        // Chunk 1 of rank 0 is model chunk 2: its input comes from rank 1's chunk 0 (model chunk 1).
        #expect(schedule.modelChunk(at: PipelineLocation(rank: 0, chunk: 1)) == 2)
        #expect(schedule.location(ofModelChunk: 3) == PipelineLocation(rank: 1, chunk: 1))
        let wrapAround = PipelineTransfer(kind: .activation, microBatch: 0, source: PipelineLocation(rank: 1, chunk: 0),
                                          destination: PipelineLocation(rank: 0, chunk: 1))
        #expect(schedule.actions[0].contains(.receive(wrapAround)))
        #expect(schedule.actions[1].contains(.send(wrapAround)))
    }

    /// ZB-H1, p = 3, m = 3, from Qi et al. 2023: slot x runs F_x, B_{x−(p−1−r)}, W_{x−(p−1)}.
    @Test func zeroBubbleH1DefersWeightGradients() throws {
        let schedule = try PipelineSchedule(.zeroBubbleH1, stages: 3, microBatches: 3)
        #expect(computeLabels(schedule, rank: 0) == ["F0", "F1", "F2", "B0", "W0", "B1", "W1", "B2", "W2"])
        #expect(computeLabels(schedule, rank: 1) == ["F0", "F1", "B0", "F2", "B1", "W0", "B2", "W1", "W2"])
        #expect(computeLabels(schedule, rank: 2) == ["F0", "B0", "F1", "B1", "F2", "B2", "W0", "W1", "W2"])
        #expect(schedule.splitsBackward)
        // Same peak as 1F1B's first rank: p micro-batches.
        #expect(schedule.peakActivations.max() == 3)
    }

    @Test func invalidParametersNameTheFix() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        #expect(throws: PipelineError.self) { try PipelineSchedule(.gpipe, stages: 0, microBatches: 4) }
        #expect(message { _ = try PipelineSchedule(.gpipe, stages: 0, microBatches: 4) }.contains("at least 1 pipeline stage"))
        #expect(message { _ = try PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 0) }.contains("micro-batches=0"))
        #expect(message { _ = try PipelineSchedule(.interleaved, stages: 2, microBatches: 4, virtualStages: 0) }
            .contains("virtual-stages=0"))
        #expect(message { _ = try PipelineSchedule(.oneForwardOneBackward, stages: 4, microBatches: 8, virtualStages: 2) }
            .contains("only the interleaved schedule has virtual stages"))
        #expect(message { _ = try PipelineSchedule(.interleaved, stages: 4, microBatches: 6, virtualStages: 2) }
            .contains("multiple of the number of stages (4); use 4, 8, 12, 16"))
        #expect(message { _ = try PipelineSchedule(.interleaved, stages: 1, microBatches: 4, virtualStages: 2) }
            .contains("at least 2 stages"))
        #expect(message { _ = try PipelineScheduleKind(name: "pipedream") } == "unknown pipeline schedule 'pipedream'; valid schedules: gpipe, 1f1b, interleaved, zb-h1")
        #expect(try PipelineScheduleKind(name: "ZB-H1") == .zeroBubbleH1)
    }

    @Test func configRoundTripsThroughJSONAndRejectsInvalidValues() throws {
        let config = try PipelineScheduleConfig(kind: .interleaved, stages: 4, microBatches: 8, virtualStages: 2)
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(PipelineScheduleConfig.self, from: data) == config)
        let bad = Data(#"{"kind":"1f1b","stages":4,"microBatches":8,"virtualStages":2}"#.utf8)
        #expect(throws: PipelineError.self) { try JSONDecoder().decode(PipelineScheduleConfig.self, from: bad) }
        let schedule = PipelineSchedule(config)
        #expect(try JSONDecoder().decode(PipelineSchedule.self, from: JSONEncoder().encode(schedule)) == schedule)
    }
}
