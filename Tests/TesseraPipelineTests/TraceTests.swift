import Foundation
import Testing
import TesseraFiles
import TesseraPipeline

/// A fresh path in a fresh temporary directory.
func temporaryPath(_ name: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pipeline-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

@Suite struct TraceTests {
    @Test func simulatedTimelineRoundTripsThroughATraceFile() throws {
        let simulation = try PipelineSimulator.simulate(
            schedule: PipelineSchedule(.zeroBubbleH1, stages: 4, microBatches: 8),
            costs: PipelineCosts(forward: 1, backwardInput: 1, backwardWeight: 1, transfer: 0.125))
        let path = try temporaryPath("zb.trace.json")
        try PipelineTrace(simulation.timeline).write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(#""traceEvents""#) && text.contains(#""ph":"X""#) && text.contains(#""cat":"backward-weight""#))
        let timeline = try PipelineTrace(contentsOf: path).timeline(title: "zb", path: path)
        #expect(timeline.ranks == [0, 1, 2, 3])
        #expect(timeline.spans.count == simulation.timeline.spans.count)
        let measured = timeline.metrics, simulated = simulation.metrics
        #expect(abs(measured.stepTime - simulated.stepTime) < 1e-9)
        #expect(abs(measured.bubbleFraction - simulated.bubbleFraction) < 1e-12)
        #expect(measured.peakActivations == simulated.peakActivations)
    }

    @Test func readerAcceptsOtherToolsConventions() throws {
        // A bare array, metadata events, unknown keys and mistyped arguments; ranks need not be contiguous.
        let json = """
            [{"name":"process_name","ph":"M","pid":2,"tid":0,"args":{"name":"rank 2"}},
             {"name":"F0","cat":"forward","ph":"X","ts":1000,"dur":2000,"pid":2,"tid":0,"args":{"microBatch":0,"extra":[1]}},
             {"name":"B0","cat":"backward","ph":"X","ts":3000,"dur":4000,"pid":2,"tid":0,"args":{"microBatch":"zero"}},
             {"name":"F0","cat":"forward","ph":"X","ts":3000,"dur":2000,"pid":6,"tid":0},
             {"name":"gc","cat":"allocator","ph":"X","ts":0,"dur":500,"pid":6,"tid":3},
             {"name":"counter","ph":"C","ts":10,"pid":6,"tid":0}]
            """
        let path = try temporaryPath("other.json")
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let timeline = try PipelineTrace(contentsOf: path).timeline(title: "other")
        #expect(timeline.ranks == [2, 6])
        #expect(timeline.spans.count == 4)
        #expect(timeline.spans.first { $0.label == "gc" }?.kind == .other)
        let metrics = timeline.metrics
        // Compute window 1 ms to 7 ms: rank 2 busy 6 ms, rank 6 busy 2 ms of 6.
        #expect(metrics.stepTime == 6 && metrics.busyTime == [6, 2])
        #expect(abs(metrics.bubbleFraction - 4.0 / 12) < 1e-12)
    }

    @Test func brokenTraceFilesThrowTypedErrors() throws {
        func reason(_ contents: String?) throws -> String {
            let path = try temporaryPath("broken.json")
            if let contents { try contents.write(toFile: path, atomically: true, encoding: .utf8) }
            do {
                _ = try PipelineTrace(contentsOf: path).timeline(title: "broken", path: path)
                return ""
            } catch let error as PipelineError {
                guard case let .invalidTrace(errorPath, reason) = error, errorPath == path else { return "\(error)" }
                return reason
            }
        }
        #expect(try reason(nil).contains("cannot be read"))
        #expect(try reason(#"{"traceEvents":[{"name":"F0","cat":"forward","ph":"X","ts":1"#).contains("not valid JSON"))
        #expect(try reason(#"{"events":[]}"#).contains(#"missing "traceEvents""#))
        #expect(try reason(#"{"traceEvents":[{"name":"F0","ph":"X","ts":"soon","pid":0,"tid":0}]}"#).contains("traceEvents[0]"))
        #expect(try reason(#"{"traceEvents":[{"name":"x","cat":"communication","ph":"X","ts":0,"dur":1,"pid":0,"tid":1}]}"#)
            .contains("no complete"))
    }

    @Test func writingIntoAMissingDirectoryFailsWithoutLeavingFiles() throws {
        let directory = try temporaryPath("missing")
        let trace = PipelineTrace(events: [])
        #expect(throws: FileWriteError.self) { try trace.write(to: directory + "/trace.json") }
        #expect(!FileManager.default.fileExists(atPath: directory))
        // Over an existing file, the new contents replace it whole.
        let path = try temporaryPath("trace.json")
        try "old".write(toFile: path, atomically: true, encoding: .utf8)
        try trace.write(to: path)
        #expect(try PipelineTrace(contentsOf: path) == trace)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        #expect(leftovers == ["trace.json"])
    }

    @Test func stepsAreSelectable() throws {
        var events: [PipelineTraceEvent] = []
        for step in 0..<2 {
            let offset = Double(step) * 100_000
            events.append(PipelineTraceEvent(name: "F0", category: "forward", timestamp: offset, duration: 1000, process: 0,
                                             thread: 0, arguments: PipelineTraceArguments(microBatch: 0, step: step)))
            events.append(PipelineTraceEvent(name: "B0", category: "backward", timestamp: offset + 1000, duration: 2000,
                                             process: 0, thread: 0, arguments: PipelineTraceArguments(microBatch: 0, step: step)))
        }
        let trace = PipelineTrace(events: events)
        #expect(trace.steps == [0, 1])
        #expect(try trace.timeline(title: "t", step: 1).metrics.stepTime == 3)
        #expect(try trace.timeline(title: "t").metrics.stepTime == 103)  // both steps and the gap between them
        #expect(throws: PipelineError.self) { try trace.timeline(title: "t", step: 7) }
    }
}
