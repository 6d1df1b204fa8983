import Foundation
import TesseraTensor

/// The element-wise kernels, forward and backward, on tensors of `N` floats, next to a STREAM triad.
///
/// Bytes per call count each input read once and each output written once (N floats of 4 bytes;
/// `C` = row width, `R` = N / C rows; accumulated outputs count as read and written).
public enum ElementwiseBench {
    /// Row widths: GPT-2 small's hidden size for norms and bias, a 1024-token attention row for softmax,
    /// GPT-2's vocabulary for the fused cross-entropy.
    public static let hidden = 768, softmaxRow = 1024, vocabulary = 50257

    /// Big buffers shared by every case: five tensors of N floats plus row-sized vectors.
    public final class Buffers {
        let elements: Int
        let tensors: [UnsafeMutablePointer<Float>]
        let vector: UnsafeMutablePointer<Float>, vector2: UnsafeMutablePointer<Float>
        let perRow: UnsafeMutablePointer<Float>, perRow2: UnsafeMutablePointer<Float>
        let targets: UnsafeMutablePointer<Int32>

        public init(elements: Int) {
            self.elements = elements
            tensors = (0..<5).map { ElementwiseBench.filled(elements, seed: UInt64(10 + $0)) }
            vector = ElementwiseBench.filled(vocabulary, seed: 20)
            vector2 = ElementwiseBench.filled(vocabulary, seed: 21)
            perRow = ElementwiseBench.filled(elements / hidden + 1, seed: 22, low: 0.5, high: 1.5)
            perRow2 = ElementwiseBench.filled(elements / hidden + 1, seed: 23)
            targets = .allocate(capacity: elements / vocabulary + 1)
            for r in 0..<(elements / vocabulary + 1) { targets[r] = Int32((r * 7919) % vocabulary) }
        }

        deinit {
            (tensors + [vector, vector2, perRow, perRow2]).forEach { $0.deallocate() }
            targets.deallocate()
        }
    }

    /// One kernel call to time, with its byte count.
    struct Case {
        var kernel: String
        var pass: String
        /// The byte count as a formula in N, C and R.
        var bytesFormula: String
        var bytes: Int
        /// The target as a fraction of the triad.
        var target: Double
        var run: (ComputePool) -> Void
    }

    static func cases(_ buffers: Buffers) -> [Case] {
        let n = buffers.elements, t = buffers.tensors
        let (x, y, dy, dx, other) = (t[0], t[1], t[2], t[3], t[4])
        let (v, w) = (buffers.vector, buffers.vector2)
        let (rows, columns) = (n / hidden, hidden)
        let (softmaxRows, logitRows) = (n / softmaxRow, n / vocabulary)
        let rowBytes = 4 * rows, columnBytes = 4 * columns
        return [
            Case(kernel: "bias add", pass: "forward", bytesFormula: "8N + 4C", bytes: 8 * n + columnBytes, target: 0.6) {
                Kernels.addBias(y, bias: v, rows: rows, columns: columns, pool: $0)
            },
            Case(kernel: "bias add", pass: "backward", bytesFormula: "4N + 8C", bytes: 4 * n + 2 * columnBytes, target: 0.6) {
                Kernels.biasBackward(dy, rows: rows, columns: columns, accumulatingInto: w, pool: $0)
            },
            Case(kernel: "LayerNorm", pass: "forward", bytesFormula: "8N + 8C + 8R", bytes: 8 * n + 2 * columnBytes + 2 * rowBytes,
                 target: 0.6) {
                Kernels.layerNorm(x, weight: v, bias: w, into: y, mean: buffers.perRow2, rstd: buffers.perRow,
                                  rows: rows, columns: columns, epsilon: 1e-5, pool: $0)
            },
            Case(kernel: "LayerNorm", pass: "backward", bytesFormula: "12N + 20C + 8R",
                 bytes: 12 * n + 5 * columnBytes + 2 * rowBytes, target: 0.6) {
                Kernels.layerNormBackward(dy, x: x, weight: v, mean: buffers.perRow2, rstd: buffers.perRow, dx: dx,
                                          dWeight: w, dBias: w + columns, rows: rows, columns: columns, pool: $0)
            },
            Case(kernel: "RMSNorm", pass: "forward", bytesFormula: "8N + 4C + 4R", bytes: 8 * n + columnBytes + rowBytes,
                 target: 0.6) {
                Kernels.rmsNorm(x, weight: v, into: y, rstd: buffers.perRow, rows: rows, columns: columns, epsilon: 1e-5, pool: $0)
            },
            Case(kernel: "RMSNorm", pass: "backward", bytesFormula: "12N + 12C + 4R", bytes: 12 * n + 3 * columnBytes + rowBytes,
                 target: 0.6) {
                Kernels.rmsNormBackward(dy, x: x, weight: v, rstd: buffers.perRow, dx: dx, dWeight: w,
                                        rows: rows, columns: columns, pool: $0)
            },
            Case(kernel: "softmax", pass: "forward", bytesFormula: "8N", bytes: 8 * n, target: 0.4) {
                Kernels.softmax(x, into: y, rows: softmaxRows, columns: softmaxRow, pool: $0)
            },
            Case(kernel: "softmax", pass: "backward", bytesFormula: "12N", bytes: 12 * n, target: 0.4) {
                Kernels.softmaxBackward(y, dy, into: dx, rows: softmaxRows, columns: softmaxRow, pool: $0)
            },
            Case(kernel: "GELU", pass: "forward", bytesFormula: "8N", bytes: 8 * n, target: 0.4) {
                Kernels.gelu(x, into: y, count: n, pool: $0)
            },
            Case(kernel: "GELU", pass: "backward", bytesFormula: "12N", bytes: 12 * n, target: 0.4) {
                Kernels.geluBackward(x, dy, into: dx, count: n, pool: $0)
            },
            Case(kernel: "SiLU", pass: "forward", bytesFormula: "8N", bytes: 8 * n, target: 0.4) {
                Kernels.silu(x, into: y, count: n, pool: $0)
            },
            Case(kernel: "SiLU", pass: "backward", bytesFormula: "12N", bytes: 12 * n, target: 0.4) {
                Kernels.siluBackward(x, dy, into: dx, count: n, pool: $0)
            },
            Case(kernel: "SwiGLU", pass: "forward", bytesFormula: "12N", bytes: 12 * n, target: 0.4) {
                Kernels.swiglu(gate: x, up: other, into: y, count: n, pool: $0)
            },
            Case(kernel: "SwiGLU", pass: "backward", bytesFormula: "20N", bytes: 20 * n, target: 0.4) {
                Kernels.swigluBackward(gate: x, up: other, dy, dGate: dx, dUp: y, count: n, pool: $0)
            },
            Case(kernel: "cross-entropy (fused, V = 50257)", pass: "forward+backward", bytesFormula: "8N + 8R",
                 bytes: 8 * logitRows * vocabulary + 8 * logitRows, target: 0.4) {
                // In place: the logits become gradients, so each call starts from the previous call's
                // gradients (the same amount of work, values stay finite).
                Kernels.crossEntropyWithGradient(
                    logitsToGradients: other, targets: buffers.targets, losses: buffers.perRow2, rows: logitRows,
                    vocabulary: vocabulary, gradientScale: 1, pool: $0)
            },
        ]
    }

    /// The STREAM triad `a[i] = b[i] + s·c[i]` on three of the tensors (12N bytes: two read, one written).
    static func triad(_ buffers: Buffers, pool: ComputePool) {
        let (a, b, c) = (buffers.tensors[1], buffers.tensors[0], buffers.tensors[2])
        pool.forEachRange(count: buffers.elements) { range in
            for i in range { a[i] = b[i] + 3 * c[i] }
        }
    }

    /// Times every case on `pool` with the triad alternately (so both see the same load on a shared
    /// machine): one warm-up call each, then the medians of `repeats` calls.
    public static func measure(_ buffers: Buffers, pool: ComputePool, repeats: Int) -> [ElementwiseSample] {
        cases(buffers).map { c in
            c.run(pool)
            triad(buffers, pool: pool)
            let pairs = PairedTimer(repeats: repeats, { c.run(pool) }, peer: { triad(buffers, pool: pool) })
            return ElementwiseSample(kernel: c.kernel, pass: c.pass, bytesFormula: c.bytesFormula, bytes: c.bytes,
                                     target: c.target, threads: pool.threadCount, seconds: pairs.median,
                                     triadSeconds: pairs.peerMedian, triadBytes: 12 * buffers.elements)
        }
    }

    /// `count` uniform values in `[low, high)` from a fixed seed (allocated; the caller deallocates).
    static func filled(_ count: Int, seed: UInt64, low: Float = -2, high: Float = 2) -> UnsafeMutablePointer<Float> {
        let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        DeterministicRandom(seed: seed, stream: "bench").fillUniform(
            UnsafeMutableBufferPointer(start: pointer, count: count), indices: 0..<count, low: low, high: high)
        return pointer
    }
}

/// One element-wise point: the median time of one call and its bandwidth, and the triad timed alongside.
public struct ElementwiseSample: Codable {
    public var kernel: String
    public var pass: String
    public var bytesFormula: String
    public var bytes: Int
    public var target: Double
    public var threads: Int
    public var seconds: Double
    public var triadSeconds: Double
    /// GB/s = bytes / seconds / 10⁹.
    public var gigabytesPerSecond: Double
    public var triadGigabytesPerSecond: Double
    /// Kernel GB/s / triad GB/s.
    public var fractionOfTriad: Double

    public init(kernel: String, pass: String, bytesFormula: String, bytes: Int, target: Double, threads: Int, seconds: Double,
         triadSeconds: Double, triadBytes: Int) {
        (self.kernel, self.pass, self.bytesFormula, self.bytes) = (kernel, pass, bytesFormula, bytes)
        (self.target, self.threads, self.seconds, self.triadSeconds) = (target, threads, seconds, triadSeconds)
        gigabytesPerSecond = Double(bytes) / seconds / 1e9
        triadGigabytesPerSecond = Double(triadBytes) / triadSeconds / 1e9
        fractionOfTriad = gigabytesPerSecond / triadGigabytesPerSecond
    }
}
