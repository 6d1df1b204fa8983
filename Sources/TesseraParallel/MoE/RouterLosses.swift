/// One router layer's statistics over a micro-batch: what the load-balancing loss, the z-loss and the expert
/// metrics need. Sums, so that ranks holding different tokens add theirs (``summed(over:)``).
public struct RouterStatistics: Sendable, Hashable {
    /// `[experts]` top-k assignments per expert before capacity drops (transformers' `tokens_per_expert` numerator).
    public var assignments: [Double]
    /// `[experts]` Σ over tokens of the softmax probability (`router_prob_per_expert` numerator).
    public var probabilitySums: [Double]
    /// `[experts]` assignments each expert kept after capacity drops (tokens per expert in metrics).
    public var kept: [Double]
    /// Σ over tokens of `logsumexp(logits)²`.
    public var squaredLogSumExp: Double
    public var tokens: Double

    public init(experts: Int) {
        assignments = Array(repeating: 0, count: experts)
        probabilitySums = assignments
        kept = assignments
        squaredLogSumExp = 0
        tokens = 0
    }

    /// The statistics of one rank's `routing` with its probabilities `[tokens, experts]` and log-sum-exps `[tokens]`.
    public init(routing: Routing, probabilities: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, experts: Int) {
        self.init(experts: experts)
        for t in 0..<routing.tokens {
            for j in 0..<routing.topK {
                assignments[Int(routing.selected[t * routing.topK + j])] += 1
                let expert = routing.experts[t * routing.topK + j]
                if expert >= 0 { kept[Int(expert)] += 1 }
            }
            for e in 0..<experts { probabilitySums[e] += Double(probabilities[t * experts + e]) }
            squaredLogSumExp += Double(logSumExp[t] * logSumExp[t])
        }
        tokens = Double(routing.tokens)
    }

    /// Every layer's statistics summed over `group` (every rank's tokens) in one all-reduce of `layers × (3·experts + 2)`
    /// floats; the identity on one rank. Every rank of the group must call it with as many layers of as many experts.
    /// - Throws: ``CollectiveError`` when a peer fails.
    public static func summed(_ layers: [RouterStatistics], over group: AxisGroup) throws -> [RouterStatistics] {
        guard group.size > 1, let e = layers.first?.assignments.count else { return layers }
        let width = packedCount(experts: e)
        var flat = [Float](repeating: 0, count: layers.count * width)
        try flat.withUnsafeMutableBufferPointer { buffer in
            for (index, layer) in layers.enumerated() { layer.pack(into: buffer.baseAddress! + index * width) }
            try group.allReduce(buffer, operation: .sum)
        }
        return flat.withUnsafeBufferPointer { buffer in
            layers.indices.map { RouterStatistics(packed: buffer.baseAddress! + $0 * width, experts: e) }
        }
    }

    /// Floats of one layer's statistics packed for a message: `assignments`, `probabilitySums`, `kept`, then
    /// `squaredLogSumExp` and `tokens`.
    public static func packedCount(experts: Int) -> Int { 3 * experts + 2 }

    /// Writes the statistics as ``packedCount(experts:)`` floats.
    public func pack(into destination: UnsafeMutablePointer<Float>) {
        let row: [Double] = assignments + probabilitySums + kept + [squaredLogSumExp, tokens]
        for (index, value) in row.enumerated() { destination[index] = Float(value) }
    }

    /// The statistics ``pack(into:)`` wrote.
    public init(packed source: UnsafePointer<Float>, experts e: Int) {
        let row = (0..<Self.packedCount(experts: e)).map { Double(source[$0]) }
        self.init(experts: e)
        assignments = Array(row[0..<e])
        probabilitySums = Array(row[e..<2 * e])
        kept = Array(row[2 * e..<3 * e])
        squaredLogSumExp = row[3 * e]
        tokens = row[3 * e + 1]
    }

    /// Adds `other`'s sums (another micro-batch).
    public mutating func add(_ other: RouterStatistics) {
        for e in assignments.indices {
            assignments[e] += other.assignments[e]
            probabilitySums[e] += other.probabilitySums[e]
            kept[e] += other.kept[e]
        }
        squaredLogSumExp += other.squaredLogSumExp
        tokens += other.tokens
    }

    /// The share of top-k assignments capacity dropped.
    public var droppedFraction: Double {
        let total = assignments.reduce(0, +)
        return total > 0 ? 1 - kept.reduce(0, +) / total : 0
    }
}

/// What a router's backward pass adds to its logits' gradient for the auxiliary losses: `∂L/∂p_e` of every
/// token's softmax probabilities (the load-balancing loss, the same for every token) and the z-loss's factor.
public struct RouterLossGradient: Sendable, Hashable {
    /// `[experts]` `∂L/∂p_{t,e}`.
    public var perExpert: [Float]
    /// `∂L/∂z_{t,e} = zScale · lse_t · p_{t,e}` from the z-loss.
    public var zScale: Float

    /// No auxiliary loss.
    public static func none(experts: Int) -> RouterLossGradient { RouterLossGradient(perExpert: Array(repeating: 0, count: experts), zScale: 0) }

}

extension RouterLossGradient {
    /// Writes `perExpert` then `zScale`: `experts + 1` floats.
    public func pack(into destination: UnsafeMutablePointer<Float>) {
        destination.update(from: perExpert, count: perExpert.count)
        destination[perExpert.count] = zScale
    }

    /// The coefficients ``pack(into:)`` wrote.
    public init(packed source: UnsafePointer<Float>, experts: Int) {
        self.init(perExpert: Array(UnsafeBufferPointer(start: source, count: experts)), zScale: source[experts])
    }
}

/// The auxiliary losses of one micro-batch over every router layer, as transformers' `load_balancing_loss_func`
/// defines the first: with `C_e` the top-k assignments to expert e summed over layers and tokens, `P_e` the summed
/// softmax probabilities and `N` the rows (layers × tokens), `aux = E · Σ_e (C_e / N) · (P_e / N)`; and the router
/// z-loss of Zoph et al. 2022 over the same rows, `z = Σ lse² / N`.
public struct RouterLosses: Sendable, Hashable {
    public let configuration: RouterConfiguration
    /// Σ over layers of the assignments and probabilities.
    public let assignments: [Double], probabilitySums: [Double]
    public let rows: Double
    public let squaredLogSumExp: Double

    /// The losses over `layers` (every router of the model).
    public init(layers: [RouterStatistics], configuration: RouterConfiguration) {
        let e = configuration.experts
        self.configuration = configuration
        assignments = (0..<e).map { i in layers.reduce(0) { $0 + $1.assignments[i] } }
        probabilitySums = (0..<e).map { i in layers.reduce(0) { $0 + $1.probabilitySums[i] } }
        rows = layers.reduce(0) { $0 + $1.tokens }
        squaredLogSumExp = layers.reduce(0) { $0 + $1.squaredLogSumExp }
    }

    /// The load-balancing loss (whether or not the objective includes it).
    public var balance: Double {
        guard rows > 0 else { return 0 }
        return Double(configuration.experts) * zip(assignments, probabilitySums).reduce(0) { $0 + $1.0 * $1.1 } / (rows * rows)
    }

    /// The router z-loss.
    public var z: Double { rows > 0 ? squaredLogSumExp / rows : 0 }

    /// What the losses add to the objective: `auxiliaryWeight · balance + zLossCoefficient · z`.
    public var objective: Double {
        Double(configuration.auxiliaryWeight) * balance + Double(configuration.zLossCoefficient) * z
    }

    /// The gradient coefficients for every router, with the losses weighted by `scale` in the objective (the
    /// micro-batch's share of the step). The counts are constants (top-k has no gradient), so
    /// `∂balance/∂p_{t,e} = E · C_e / N²`.
    public func gradient(scale: Float) -> RouterLossGradient {
        guard rows > 0 else { return .none(experts: configuration.experts) }
        let balanceScale = Double(scale) * Double(configuration.auxiliaryWeight) * Double(configuration.experts) / (rows * rows)
        return RouterLossGradient(perExpert: assignments.map { Float(balanceScale * $0) },
                                  zScale: Float(Double(scale) * Double(configuration.zLossCoefficient) * 2 / rows))
    }
}
