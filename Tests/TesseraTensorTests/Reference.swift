import Foundation

/// Naive float64 definitions of every kernel, written from the formulas (not from the kernels).
enum Reference {
    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    static func silu(_ x: Double) -> Double { x * sigmoid(x) }

    /// Applies `f` to each row `[columns]` of `x`.
    static func rows(_ x: [Double], columns: Int, _ f: ([Double]) -> [Double]) -> [Double] {
        stride(from: 0, to: x.count, by: columns).flatMap { f(Array(x[$0..<$0 + columns])) }
    }

    static func layerNorm(_ x: [Double], weight: [Double], bias: [Double], epsilon: Double) -> [Double] {
        rows(x, columns: weight.count) { row in
            let n = Double(row.count)
            let mean = row.reduce(0, +) / n
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let rstd = 1 / (variance + epsilon).squareRoot()
            return row.indices.map { (row[$0] - mean) * rstd * weight[$0] + bias[$0] }
        }
    }

    static func rmsNorm(_ x: [Double], weight: [Double], epsilon: Double) -> [Double] {
        rows(x, columns: weight.count) { row in
            let rstd = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(row.count) + epsilon).squareRoot()
            return row.indices.map { row[$0] * rstd * weight[$0] }
        }
    }

    static func softmax(_ row: [Double]) -> [Double] {
        let m = row.max()!
        let e = row.map { exp($0 - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    static func crossEntropy(_ logits: [Double], targets: [Int32], vocabulary: Int) -> [Double] {
        targets.indices.map { r in
            let row = Array(logits[r * vocabulary..<(r + 1) * vocabulary])
            let m = row.max()!
            return log(row.reduce(0) { $0 + exp($1 - m) }) + m - row[Int(targets[r])]
        }
    }

    /// Matrix product of row-major `a` `[m, k]` (or `[k, m]` transposed) and `b` `[k, n]` (or `[n, k]`).
    static func matmul(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    sum += (transposeA ? a[p * m + i] : a[i * k + p]) * (transposeB ? b[j * k + p] : b[p * n + j])
                }
                c[i * n + j] = sum
            }
        }
        return c
    }

    struct Attention {
        var batch, queryLength, keyLength, heads, kvHeads, headDim: Int
        var isCausal: Bool
        /// Query heads per key/value head and the place of query head 0 in its group (a slice of a model's heads).
        var groupSize: Int? = nil, groupOffset = 0
        var scale: Double { 1 / Double(headDim).squareRoot() }
        /// The key/value head query head `h` reads.
        func kv(_ h: Int) -> Int { (groupOffset + h) / (groupSize ?? heads / kvHeads) }

        /// Full-matrix attention on contiguous `q` `[batch, queryLength, heads·d]`, `k`, `v`
        /// `[batch, keyLength, kvHeads·d]`; returns the output and the log-sum-exp `[batch, heads, queryLength]`.
        func forward(q: [Double], k: [Double], v: [Double]) -> (output: [Double], logSumExp: [Double]) {
            let d = headDim
            var output = [Double](repeating: 0, count: q.count)
            var logSumExp = [Double](repeating: 0, count: batch * heads * queryLength)
            for b in 0..<batch {
                for h in 0..<heads {
                    for i in 0..<queryLength {
                        let qi = ((b * queryLength + i) * heads + h) * d
                        let visible = isCausal ? keyLength - queryLength + i + 1 : keyLength
                        let scores = (0..<visible).map { j -> Double in
                            let kj = ((b * keyLength + j) * kvHeads + kv(h)) * d
                            return (0..<d).reduce(0) { $0 + q[qi + $1] * k[kj + $1] } * scale
                        }
                        let m = scores.max()!
                        let sum = scores.reduce(0) { $0 + exp($1 - m) }
                        logSumExp[(b * heads + h) * queryLength + i] = m + log(sum)
                        for j in 0..<visible {
                            let p = exp(scores[j] - m) / sum
                            let vj = ((b * keyLength + j) * kvHeads + kv(h)) * d
                            for x in 0..<d { output[qi + x] += p * v[vj + x] }
                        }
                    }
                }
            }
            return (output, logSumExp)
        }

        /// The gradients of `Σ dOut ⊙ forward(q, k, v).output`, from the formulas
        /// `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q`, `dV = Pᵀ·dOut`.
        func backward(dOut: [Double], q: [Double], k: [Double], v: [Double]) -> (dq: [Double], dk: [Double], dv: [Double]) {
            let d = headDim
            var dq = [Double](repeating: 0, count: q.count)
            var dk = [Double](repeating: 0, count: k.count), dv = [Double](repeating: 0, count: v.count)
            for b in 0..<batch {
                for h in 0..<heads {
                    for i in 0..<queryLength {
                        let qi = ((b * queryLength + i) * heads + h) * d
                        let visible = isCausal ? keyLength - queryLength + i + 1 : keyLength
                        let rows = (0..<visible).map { ((b * keyLength + $0) * kvHeads + kv(h)) * d }
                        let scores = rows.map { kj in (0..<d).reduce(0) { $0 + q[qi + $1] * k[kj + $1] } * scale }
                        let p = Reference.softmax(scores)
                        let dp = rows.map { vj in (0..<d).reduce(0) { $0 + dOut[qi + $1] * v[vj + $1] } }
                        let delta = zip(p, dp).reduce(0) { $0 + $1.0 * $1.1 }
                        for (j, row) in rows.enumerated() {
                            let ds = p[j] * (dp[j] - delta) * scale
                            for x in 0..<d {
                                dq[qi + x] += ds * k[row + x]
                                dk[row + x] += ds * q[qi + x]
                                dv[row + x] += p[j] * dOut[qi + x]
                            }
                        }
                    }
                }
            }
            return (dq, dk, dv)
        }
    }
}
