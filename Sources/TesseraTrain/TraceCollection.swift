import Foundation
import TesseraCollectives
import TesseraPipeline

/// Brings the spans every rank recorded for `--trace` to world rank 0.
public enum TraceCollection {
    /// The whole job's trace on world rank 0 (`nil` elsewhere). With threads every rank records into the same
    /// recorder, so rank 0 reads it; with one process per rank (MPI) each rank sends its recorder's events to
    /// rank 0, which merges them. Collective over `world` when `shared` is false.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public static func gather(_ recorder: PipelineTraceRecorder, world: any Communicator, shared: Bool) throws -> PipelineTrace? {
        guard !shared, world.size > 1 else { return world.rank == 0 ? recorder.trace : nil }
        let encoded = Array(try JSONEncoder().encode(recorder.trace))
        var sizes = [Int64](repeating: 0, count: world.size)
        var mine = Int64(encoded.count)
        try withUnsafeBytes(of: &mine) { input in try sizes.withUnsafeMutableBytes { try world.allGather(input, into: $0) } }
        let tag = 7_001
        guard world.rank == 0 else {
            try encoded.withUnsafeBytes { try world.send($0, to: 0, tag: tag) }
            return nil
        }
        var merged = recorder.trace
        for rank in 1..<world.size {
            var bytes = [UInt8](repeating: 0, count: Int(sizes[rank]))
            try bytes.withUnsafeMutableBytes { try world.receive(into: $0, from: rank, tag: tag) }
            merged = merged.merging([try JSONDecoder().decode(PipelineTrace.self, from: Data(bytes))])
        }
        return merged
    }
}
