/// Expert capacity over whole sequences whatever the layout. Each rank routes its own rows; the capacity of a
/// sequence counts every assignment of it, lowest score dropped first (``RoutingMath/dropBeyondCapacity(_:length:capacity:experts:score:)``).
/// When sequence or context parallelism split the sequences, every rank of the groups holding them
/// (``LayerContext/capacityGroups``) gathers each row's choices and scores (`1 + 2k` floats a row), drops over the
/// whole micro-batch as one device does and keeps its own rows' decisions: the tokens dropped do not depend on the
/// layout (Megatron-Core instead caps each rank's share of the capacity, which makes the drops depend on the split).
extension Router {
    /// Drops `routing`'s assignments beyond each expert's capacity in every sequence; `score(t, j)` is the score of
    /// local token `t`'s `j`-th choice. Communicates only when `sequences` are split over ranks and capacity is on.
    /// - Throws: ``CollectiveError`` when a peer fails.
    func dropBeyondCapacity(_ routing: inout Routing, sequences: SequenceRows, score: (Int, Int) -> Float) throws {
        let capacity = configuration.capacity(length: sequences.length), e = configuration.experts, k = routing.topK
        guard capacity < .max else { return }
        guard sequences.isSplit else {
            return RoutingMath.dropBeyondCapacity(&routing, length: sequences.length, capacity: capacity, experts: e, score: score)
        }
        // Micro-batch rows and expert ids travel as floats: exact below 2^24.
        let own = sequences.microBatchRows(), width = 1 + 2 * k
        var payload = [Float](repeating: 0, count: own.count * width)
        for (t, row) in own.enumerated() {
            payload[t * width] = Float(row)
            for j in 0..<k {
                payload[t * width + 1 + j] = Float(routing.experts[t * k + j])
                payload[t * width + 1 + k + j] = score(t, j)
            }
        }
        for group in context.capacityGroups { payload = try Self.gathered(payload, over: group) }
        // The micro-batch's routing as one device sees it (rows no rank sent stay -1: counted by nobody).
        var whole = Routing(tokens: sequences.batch * sequences.length, topK: k)
        var scores = [Float](repeating: 0, count: whole.tokens * k)
        for r in 0..<payload.count / width {
            let row = Int(payload[r * width])
            for j in 0..<k {
                whole.experts[row * k + j] = Int32(payload[r * width + 1 + j])
                scores[row * k + j] = payload[r * width + 1 + k + j]
            }
        }
        RoutingMath.dropBeyondCapacity(&whole, length: sequences.length, capacity: capacity, experts: e) { scores[$0 * k + $1] }
        for (t, row) in own.enumerated() {
            for j in 0..<k where whole.experts[row * k + j] < 0 {
                routing.experts[t * k + j] = ExpertRouting.dropped
                routing.weights[t * k + j] = 0
            }
        }
    }

    /// Every rank's `payload` (of any length) over `group`, concatenated in rank order.
    private static func gathered(_ payload: [Float], over group: AxisGroup) throws -> [Float] {
        guard group.size > 1 else { return payload }
        let counts = try [Float(payload.count)].withUnsafeBufferPointer { try group.allGather($0) }.map { Int($0) }
        var result = [Float](repeating: 0, count: counts.reduce(0, +))
        try payload.withUnsafeBufferPointer { local in
            try result.withUnsafeMutableBufferPointer { try group.allGather(local, counts: counts, into: $0) }
        }
        return result
    }
}
