import CIntrinsics
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The units of work of one ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:path:)``
/// call and where each keeps its running state: a unit is one (sequence, key/value head, chunk of positions) and
/// holds, for each of its query vectors (every query row of the sequence × every query head of the group), the
/// output accumulator, maximum and sum (`headDim + 2` floats, paged_attention.h's state).
struct PagedAttentionPlan {
    /// Positions per chunk (rounded down to whole blocks, at least one block): a long sequence's heads are split so
    /// that one sequence still keeps every thread busy. A constant, so a sequence's chunks, and so its arithmetic,
    /// depend on its own length only.
    static let chunkPositions = 128

    struct Unit {
        let sequence: Int, kvHead: Int
        /// Its query heads (the group of `kvHead` within the call's heads) and the sequence's query row count.
        let heads: Range<Int>, rows: Int
        let positions: Range<Int>
        /// Chunks of its (sequence, key/value head), consecutive in ``PagedAttentionPlan/units``.
        let chunks: Int
        /// Offset of its states in the state buffer, in floats.
        let state: Int
    }

    let shape: AttentionShape
    let units: [Unit]
    /// Floats of state all units need.
    let stateCount: Int

    init(sequences: [PagedSequence], shape: AttentionShape, blockSize: Int) {
        let span = max(1, Self.chunkPositions / blockSize) * blockSize, width = shape.headDim + 2
        var units: [Unit] = [], state = 0
        units.reserveCapacity(sequences.reduce(0) { $0 + ($1.start + $1.rows.count + span - 1) / span } * shape.kvHeads)
        // Key/value head by key/value head: a head's rows of every sequence lie in one region of the pool (its blocks in
        // block order), so the threads' contiguous parts read fewer, longer stretches of memory.
        for kvHead in 0..<shape.kvHeads {
            let heads = shape.queryHeads(ofKeyValueHead: kvHead)
            guard !heads.isEmpty else { continue }
            for (s, sequence) in sequences.enumerated() where !sequence.rows.isEmpty {
                let total = sequence.start + sequence.rows.count, chunks = (total + span - 1) / span
                for chunk in 0..<chunks {
                    units.append(Unit(sequence: s, kvHead: kvHead, heads: heads, rows: sequence.rows.count,
                                      positions: chunk * span..<min(total, (chunk + 1) * span), chunks: chunks, state: state))
                    state += heads.count * sequence.rows.count * width
                }
            }
        }
        (self.shape, self.units, stateCount) = (shape, units, state)
    }

    /// At most `threads` contiguous ranges of units of about equal cost (positions × query vectors), so threads finish
    /// together. Which thread runs a unit never changes its numbers.
    func parts(_ threads: Int) -> [Range<Int>] {
        let costs = units.map { $0.positions.count * $0.heads.count * $0.rows }
        let total = max(1, costs.reduce(0, +)), count = max(1, min(threads, units.count))
        var parts: [Range<Int>] = [], first = 0, before = 0, current = 0
        for (u, cost) in costs.enumerated() {
            let owner = min(count - 1, (2 * before + cost) * count / (2 * total))
            if owner != current {
                if u > first { parts.append(first..<u) }
                (first, current) = (u, owner)
            }
            before += cost
        }
        parts.append(first..<units.count)
        return parts
    }

    /// Runs `unit`, leaving its states at `states + unit.state`; `decoded` holds `2 · TPA_ROWS · headDim` floats.
    func run(_ unit: Unit, q: UnsafePointer<Float>, qStride: Int, keyValues kv: PagedKeyValues, sequences: [PagedSequence],
             states: UnsafeMutablePointer<Float>, decoded: UnsafeMutablePointer<Float>, path: PagedAttentionPath) {
        let sequence = sequences[unit.sequence], d = shape.headDim
        var queries = tpa_queries(q: q + sequence.rows.lowerBound * qStride + unit.heads.lowerBound * d, qStride: qStride,
                                  heads: Int32(unit.heads.count), rows: Int32(unit.rows), start: Int32(sequence.start),
                                  headDim: Int32(d), scale: shape.scale)
        sequence.blocks.withUnsafeBufferPointer { blocks in
            var cache = Self.cache(kv, blocks: blocks, kvHead: unit.kvHead)
            tpa_attend(path.kernelCode, &cache, &queries, unit.positions.lowerBound, unit.positions.upperBound, states + unit.state,
                       decoded, decoded + Int(TPA_ROWS) * d)
        }
    }

    /// Key/value head `kvHead` of the sequence whose block table is `blocks`, as paged_attention.h reads it.
    private static func cache(_ kv: PagedKeyValues, blocks: UnsafeBufferPointer<Int>, kvHead: Int) -> tpa_cache {
        tpa_cache(keys: kv.keys.assumingMemoryBound(to: UInt8.self), values: kv.values.assumingMemoryBound(to: UInt8.self),
                  blocks: blocks.baseAddress, blockStride: kv.blockStride, offset: kv.layerOffset + kvHead * kv.headStride,
                  rowBytes: kv.rowBytes, blockSize: Int32(kv.blockSize), type: kv.type.kernelCode)
    }

    /// Merges each query vector's chunks into its output row and log-sum-exp (layouts of ``Kernels/pagedAttention(q:qStride:keyValues:sequences:into:outStride:logSumExp:shape:pool:path:)``),
    /// for the (sequence, key/value head)s whose first chunk is among `part` (a range of ``units``): with `split`
    /// false those whose chunks all lie in `part`, with `split` true those whose later chunks lie beyond it. Over the
    /// ranges of ``parts(_:)``, once with each, every (sequence, key/value head) is merged exactly once.
    func finish(_ part: Range<Int>, split: Bool, states: UnsafePointer<Float>, sequences: [PagedSequence],
                into out: UnsafeMutablePointer<Float>, outStride: Int, logSumExp: UnsafeMutablePointer<Float>) {
        let d = shape.headDim
        for u in part where units[u].positions.lowerBound == 0 && (u + units[u].chunks > part.upperBound) == split {
            let unit = units[u], first = sequences[unit.sequence].rows.lowerBound, n = unit.rows, chunkStride = unit.heads.count * n * (d + 2)
            for i in 0..<n {
                for (g, h) in unit.heads.enumerated() {
                    tpa_finish(states + unit.state + (i * unit.heads.count + g) * (d + 2), chunkStride, Int32(unit.chunks), Int32(d),
                               out + (first + i) * outStride + h * d, logSumExp + first * shape.heads + h * n + i)
                }
            }
        }
    }
}

/// One thread's buffers for paged attention (the call's unit states on the calling thread, decoded rows on every
/// thread), made on the thread's first call and kept, grown when a call needs more, until the thread ends.
final class PagedAttentionScratch {
    private var buffers: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = [(.allocate(capacity: 1), 1), (.allocate(capacity: 1), 1)]

    deinit { buffers.forEach { $0.pointer.deallocate() } }

    /// At least `count` floats for unit states.
    func states(_ count: Int) -> UnsafeMutablePointer<Float> { reserve(0, count) }
    /// At least `count` floats for decoded key and value rows.
    func decodedRows(_ count: Int) -> UnsafeMutablePointer<Float> { reserve(1, count) }

    private func reserve(_ index: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if buffers[index].capacity < count {
            let capacity = max(count, 2 * buffers[index].capacity)
            buffers[index].pointer.deallocate()
            buffers[index] = (.allocate(capacity: capacity), capacity)
        }
        return buffers[index].pointer
    }

    /// This thread's scratch.
    static var current: PagedAttentionScratch {
        if let existing = pthread_getspecific(scratchKey) {
            return Unmanaged<PagedAttentionScratch>.fromOpaque(existing).takeUnretainedValue()
        }
        let scratch = PagedAttentionScratch()
        pthread_setspecific(scratchKey, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }
}

/// The thread-specific slot of ``PagedAttentionScratch/current``; a thread's scratch is released when it ends.
private let scratchKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { pointer in
        guard let pointer = pointer as UnsafeMutableRawPointer? else { return }
        Unmanaged<PagedAttentionScratch>.fromOpaque(pointer).release()
    }
    return key
}()
