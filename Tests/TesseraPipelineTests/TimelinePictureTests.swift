import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TesseraPipeline

@Suite struct TimelinePictureTests {
    /// 1F1B, p = 2, m = 2, F = 1, B = 2, at 3 columns per time unit.
    @Test func textTimelineShowsBoxesAndIdleTime() throws {
        let simulation = try PipelineSimulator.simulate(schedule: PipelineSchedule(.oneForwardOneBackward, stages: 2, microBatches: 2))
        #expect(simulation.timeline.text() == """
            1F1B p=2 m=2   (1 column = 0.333 time units)
            rank 0 │F0 F1 ······B0    ···B1    
            rank 1 │···F0 B0    F1 B1    ······
            step time 9 · bubble 33.3 % · peak activations per rank 2 1

            """)
        // Narrow terminals squeeze the picture, never past the width.
        let narrow = simulation.timeline.text(width: 20)
        #expect(narrow.split(separator: "\n").dropFirst().prefix(2).allSatisfy { $0.count <= 20 })
    }

    @Test func svgIsWellFormedWithABoxPerComputeSpanAndTheFigures() throws {
        let simulation = try PipelineSimulator.simulate(
            schedule: PipelineSchedule(.interleaved, stages: 2, microBatches: 4, virtualStages: 2),
            costs: PipelineCosts(forward: 1, backwardInput: 2, transfer: 0.25))
        let svg = simulation.timeline.svg(notes: ["a <note> & more"])
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        let boxes = svg.components(separatedBy: "<title>rank ").count - 1
        #expect(boxes == simulation.timeline.spans.count)
        #expect(svg.contains("rank 1</text>"))
        #expect(svg.contains("F forward") && svg.contains("waiting for a transfer") && svg.contains("lighter: chunks"))
        #expect(svg.contains("bubble \(Int((simulation.bubbleFraction * 100).rounded(.down)))."))
        #expect(svg.contains("a &lt;note&gt; &amp; more"))
        // Chunk 1 boxes are lighter than chunk 0 boxes of the same kind.
        #expect(svg.contains("fill=\"#4e79a7\"") && svg.contains("fill=\"#83a1c1\""))
        let path = try temporaryPath("picture.svg")
        try simulation.timeline.writeSVG(to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == simulation.timeline.svg())
    }
}
