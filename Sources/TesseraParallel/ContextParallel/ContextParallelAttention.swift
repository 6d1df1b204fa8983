import TesseraCollectives
import TesseraNN

/// The attention core of one layer under context parallelism: this rank's queries (its zig-zag share of every
/// sequence) against every key of the sequences, by the layer context's ``ContextCommunication``. It replaces the
/// single-device core of ``ParallelAttention`` and reads and writes the same state: the rotated `qkv` in, the output
/// `context` and `logSumExp` out; the backward pass writes `qkvGradient`. Results equal single-device attention
/// on the whole sequences (up to the order of fp32 sums).
struct ContextParallelAttention {
    let geometry: ContextAttentionGeometry
    let context: LayerContext
    let scratch: ContextAttentionScratch

    private var group: any Communicator {
        guard let group = context.cp.group else { preconditionFailure("context-parallel attention without a cp group") }
        return group
    }

    private var blocks: ContextAttentionBlocks {
        ContextAttentionBlocks(geometry: geometry, backend: context.backend, faults: context.contextFaults, scratch: scratch)
    }

    private var ulysses: UlyssesAttention {
        UlyssesAttention(geometry: geometry, backend: context.backend, faults: context.contextFaults, scratch: scratch, group: group)
    }

    /// Fills `state.context` `[rows, heads·headDim]` and `state.logSumExp` from the rotated `state.qkv`.
    func forward(state: ParallelAttention.State) throws {
        state.context.reserve(geometry.rows * geometry.outputWidth)
        switch context.contextCommunication {
        case .ring:
            state.logSumExp.reserve(geometry.rows * geometry.heads)
            try RingAttention(blocks: blocks, group: group).forward(qkv: state.qkv.pointer, out: state.context.pointer,
                                                                    logSumExp: state.logSumExp.pointer)
        case .allgather:
            state.logSumExp.reserve(geometry.rows * geometry.heads)
            try AllGatherAttention(blocks: blocks, group: group).forward(qkv: state.qkv.pointer, out: state.context.pointer,
                                                                         logSumExp: state.logSumExp.pointer)
        case .a2a:
            try ulysses.forward(qkv: state.qkv.pointer, out: state.context.pointer, logSumExp: state.logSumExp, saved: state.sequenceShards)
        }
    }

    /// Fills `state.qkvGradient` `[rows, width]` (before the inverse rotation) from the output gradient `dOut`.
    func backward(dOut: UnsafePointer<Float>, state: ParallelAttention.State) throws {
        state.qkvGradient.reserve(geometry.rows * geometry.width)
        let (qkv, out, lse) = (state.qkv.pointer, state.context.pointer, state.logSumExp.pointer)
        switch context.contextCommunication {
        case .ring:
            try RingAttention(blocks: blocks, group: group).backward(dOut: dOut, qkv: qkv, out: out, logSumExp: lse, dqkv: state.qkvGradient)
        case .allgather:
            try AllGatherAttention(blocks: blocks, group: group).backward(dOut: dOut, qkv: qkv, out: out, logSumExp: lse, dqkv: state.qkvGradient)
        case .a2a:
            try ulysses.backward(dOut: dOut, logSumExp: lse, saved: state.sequenceShards, dqkv: state.qkvGradient.pointer)
        }
    }
}
