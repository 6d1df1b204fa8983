import TesseraCollectives
import TesseraNN

/// All-gather attention over the context-parallel group (as Llama 3's context parallelism): every rank gathers
/// all key/value blocks (one broadcast per rank, since the blocks' sizes differ when the sequence does not split
/// evenly), computes its queries against each, and the backward pass reduce-scatters the key/value gradients
/// (an all-to-all of each rank's block, summed in rank order).
struct AllGatherAttention {
    let blocks: ContextAttentionBlocks
    let group: any Communicator

    private var geometry: ContextAttentionGeometry { blocks.geometry }
    private var scratch: ContextAttentionScratch { blocks.scratch }

    /// Offsets of each rank's block in the gathered buffer (and the total at the end).
    private var offsets: [Int] {
        (0..<group.size).reduce(into: [0]) { $0.append($0.last! + geometry.rows(ofRank: $1) * geometry.keyValueWidth) }
    }

    /// This rank's own block first (its diagonal blocks write the output), then the others in rank order.
    private var order: [Int] { [group.rank] + (0..<group.size).filter { $0 != group.rank } }

    /// Writes the attention output and its log-sum-exp from the rotated `qkv`.
    func forward(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) throws {
        let gathered = try gather(qkv)
        for source in order {
            blocks.forward(qkv: qkv, keysValues: gathered.pointer + offsets[source], source: source, out: out, logSumExp: logSumExp)
        }
    }

    /// Writes `dqkv` from the output gradient, the forward's output and log-sum-exp.
    func backward(dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
                  dqkv: FloatBuffer) throws {
        let gathered = try gather(qkv), offsets = self.offsets
        let gradients = scratch.keyValueGradients[0], own = scratch.keyValueGradients[1]
        gradients.reserve(offsets.last!)
        gradients.zero()
        dqkv.zero()
        for source in order {
            try blocks.backward(dOut: dOut, qkv: qkv, keysValues: gathered.pointer + offsets[source], source: source, out: out,
                            logSumExp: logSumExp, dqkv: dqkv.pointer, dKeysValues: gradients.pointer + offsets[source])
        }
        let block = geometry.rows * geometry.keyValueWidth, bytes = MemoryLayout<Float>.stride
        own.reserve(group.size * block)
        try group.allToAll(UnsafeRawBufferPointer(gradients.elements), sendCounts: (0..<group.size).map { (offsets[$0 + 1] - offsets[$0]) * bytes },
                           into: UnsafeMutableRawBufferPointer(own.mutableElements), receiveCounts: Array(repeating: block * bytes, count: group.size))
        for source in 1..<group.size { blocks.backend.axpy(own.pointer + source * block, accumulatingInto: own.pointer, count: block) }
        blocks.unpack(own.pointer, rows: geometry.rows, into: dqkv.pointer)
    }

    /// Every rank's packed key/value block, in rank order.
    private func gather(_ qkv: UnsafePointer<Float>) throws -> FloatBuffer {
        let offsets = self.offsets, gathered = scratch.keysValues[0]
        gathered.reserve(offsets.last!)
        blocks.pack(qkv, rows: geometry.rows, into: gathered.pointer + offsets[group.rank])
        for root in 0..<group.size {
            try group.broadcast(UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(start: gathered.pointer + offsets[root],
                                                                                         count: offsets[root + 1] - offsets[root])), root: root)
        }
        return gathered
    }
}
