import TesseraFormats
import TesseraModels

/// Where a saved tensor's global elements lie in the checkpoint's mapped files: runs of consecutive global
/// elements (row-major), each stored contiguously as little-endian f32, sorted by their first element.
///
/// A resuming rank copies each run of its own layout from these runs, so it reads only the bytes it needs and
/// no tensor is put together whole first.
struct SavedRuns {
    private var starts: [Int] = []
    private var counts: [Int] = []
    private var sources: [UnsafeRawPointer] = []

    /// The runs of `entry`'s pieces, the files mapped by `files` (by name).
    /// - Throws: what `files` throws; ``CheckpointError/damaged(file:reason:)`` naming the file when a piece lies
    ///   outside it (``Checkpoint`` checks this when it opens), or the manifest at `manifest` when two pieces overlap.
    init(_ entry: CheckpointManifest.TensorEntry, manifest: String, files: (String) throws -> MappedFile) throws {
        var runs: [(start: Int, count: Int, source: UnsafeRawPointer)] = []
        for piece in entry.pieces where piece.count > 0 {
            let file = try files(piece.file), bytes = piece.offset..<piece.offset + 4 * piece.count
            guard file.contains(bytes) else {
                throw CheckpointError.damaged(file: file.path, reason: "\(entry.state) of \(entry.name) lies past the file's \(file.count) bytes")
            }
            let base = file.bytes(in: bytes).baseAddress!
            piece.sharding.forEachRun(globalShape: entry.globalShape, within: piece.localStart..<piece.localStart + piece.count) { local, global, count in
                runs.append((global, count, base + 4 * (local - piece.localStart)))
            }
        }
        runs.sort { $0.start < $1.start }
        for (previous, run) in zip(runs, runs.dropFirst()) where previous.start + previous.count > run.start {
            throw CheckpointError.damaged(file: manifest, reason: "pieces of \(entry.state) of \(entry.name) overlap at element \(run.start)")
        }
        starts = runs.map(\.start)
        counts = runs.map(\.count)
        sources = runs.map(\.source)
    }

    /// Copies the global elements `range` to `target`; `false` (after copying what exists) when some are in no run.
    func copy(_ range: Range<Int>, to target: UnsafeMutablePointer<Float>) -> Bool {
        var at = range.lowerBound
        // The last run starting at or before `at`.
        var low = 0, high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= at { low = middle + 1 } else { high = middle }
        }
        var run = max(low - 1, 0)
        while at < range.upperBound, run < starts.count {
            let start = starts[run], end = start + counts[run]
            if start > at { return false }
            if end > at {
                let count = min(end, range.upperBound) - at
                UnsafeMutableRawPointer(target + (at - range.lowerBound))
                    .copyMemory(from: sources[run] + 4 * (at - start), byteCount: 4 * count)
                at += count
            }
            run += 1
        }
        return at == range.upperBound
    }
}
