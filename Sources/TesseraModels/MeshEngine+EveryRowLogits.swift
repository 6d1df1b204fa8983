import TesseraNN
import TesseraParallel

/// The logits of every row of a decoding step's segment (a prompt's log-probabilities), computed only for the
/// segments that ask and a few rows at a time, so that a step without them keeps the head at one row per sequence.
extension MeshEngine {
    /// Rows per pass of the head when every row's logits are asked for.
    static let everyRowPass = 16

    /// For each segment with `logitsOfEveryRow`, the logits `[tokens, vocabulary]` of each of its rows (the same on
    /// every rank); `nil` for the others. Every rank of the model calls it after the same step.
    /// - Parameter hidden: the last chunk's output `[batch.rows, hidden]` on the stage that holds the last chunk,
    ///   `nil` on the others.
    /// - Throws: ``CollectiveError``.
    func logitsOfEveryRow(_ segments: [DecodeSegment], batch: DecodeBatch, hidden: FloatBuffer?) throws -> [[Float]?] {
        let v = config.vocabularySize, lastChunk = model.chunks.count - 1
        return try zip(segments, batch.segments).map { segment, placed -> [Float]? in
            guard segment.logitsOfEveryRow else { return nil }
            var result: [Float] = []
            result.reserveCapacity(placed.rows.count * v)
            for start in stride(from: placed.rows.lowerBound, to: placed.rows.upperBound, by: Self.everyRowPass) {
                let rows = Array(start..<min(start + Self.everyRowPass, placed.rows.upperBound))
                var logits: [Float]
                if let hidden {
                    let state = inferenceState(lastChunk)
                    model.chunks[lastChunk].headLogits(rows: rows, of: hidden, state: state)
                    logits = try gatheredLogits(state, tokens: rows.count)
                } else {
                    logits = [Float](repeating: 0, count: rows.count * v)
                }
                try shareFromLastStage(&logits)
                result += logits
            }
            return result
        }
    }
}
