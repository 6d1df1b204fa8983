import TesseraNN
import TesseraParallel

/// The logits of every row of a decoding step's segment (a prompt's log-probabilities), computed only for the
/// segments that ask and a few rows at a time, so that a step without them keeps the head at one row per sequence.
extension MeshEngine {
    /// Rows per pass of the head when every row's logits are asked for.
    static let everyRowPass = 16

    /// On the stage that holds the last chunk, right after `batch` ran it: for each of `segments` (those of `batch`)
    /// with `logitsOfEveryRow`, the logits `[tokens, vocabulary]` of each of its rows, gathered over tp; `nil` for
    /// the others. Every tp rank of that stage calls it after the same micro-batch.
    /// - Parameter hidden: the last chunk's output `[batch.rows, hidden]`.
    /// - Throws: ``CollectiveError``.
    func logitsOfEveryRow(_ segments: [DecodeSegment], batch: DecodeBatch, hidden: FloatBuffer) throws -> [[Float]?] {
        let v = config.vocabularySize, lastChunk = model.chunks.count - 1
        return try zip(segments, batch.segments).map { segment, placed -> [Float]? in
            guard segment.logitsOfEveryRow else { return nil }
            var result: [Float] = []
            result.reserveCapacity(placed.rows.count * v)
            for start in stride(from: placed.rows.lowerBound, to: placed.rows.upperBound, by: Self.everyRowPass) {
                let rows = Array(start..<min(start + Self.everyRowPass, placed.rows.upperBound))
                let state = inferenceState(lastChunk)
                model.chunks[lastChunk].headLogits(rows: rows, of: hidden, state: state)
                result += try gatheredLogits(state, tokens: rows.count)
            }
            return result
        }
    }

    /// Broadcasts each asked segment's every-row logits from the last stage to every stage (nothing with one stage);
    /// the other stages' entries become those logits.
    func shareFromLastStage(_ everyRow: inout [[Float]?], of segments: [DecodeSegment]) throws {
        guard parallel.pp > 1 else { return }
        for (i, segment) in segments.enumerated() where segment.logitsOfEveryRow {
            var rows = everyRow[i] ?? [Float](repeating: 0, count: segment.tokens.count * config.vocabularySize)
            try shareFromLastStage(&rows)
            everyRow[i] = rows
        }
    }
}
