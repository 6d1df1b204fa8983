/// The router's decision for `tokens` local tokens: which `topK` experts each token goes to and with what weight.
///
/// This is the contract between a router (which produces it) and ``ExpertLayer`` (which consumes it). Both arrays are
/// `[tokens, topK]`, row-major, token after token.
public struct ExpertRouting: Sendable, Hashable {
    /// The id of a slot the capacity limit dropped: the token skips that expert.
    public static let dropped: Int32 = -1

    /// Experts per token.
    public let topK: Int
    /// `[tokens, topK]`: global expert ids in `0 ..< experts`, or ``dropped``.
    public let experts: [Int32]
    /// `[tokens, topK]`: the combine weights `w[t, k]`; the layer's output is `y[t] = Σ_k w[t, k] · Expert_{e[t, k]}(x[t])`.
    public let weights: [Float]

    /// - Throws: ``ExpertError/invalidRouting(reason:)`` when `topK < 1` or the arrays do not hold whole rows of `topK`
    ///   of the same count.
    public init(topK: Int, experts: [Int32], weights: [Float]) throws {
        guard topK >= 1 else { throw ExpertError.invalidRouting(reason: "topK is \(topK); use at least 1") }
        guard experts.count == weights.count, experts.count % topK == 0 else {
            throw ExpertError.invalidRouting(
                reason: "\(experts.count) expert ids and \(weights.count) weights for topK=\(topK); both must be tokens × topK")
        }
        self.topK = topK
        self.experts = experts
        self.weights = weights
    }

    /// Tokens routed.
    public var tokens: Int { experts.count / topK }

    /// Checks that the routing is for `tokens` tokens and names only experts of `0 ..< count` (or ``dropped``).
    /// - Throws: ``ExpertError``.
    public func validate(tokens: Int, experts count: Int) throws {
        guard self.tokens == tokens else {
            throw ExpertError.invalidRouting(reason: "routing for \(self.tokens) tokens given with \(tokens) tokens of input")
        }
        if let bad = experts.first(where: { $0 < Self.dropped || Int($0) >= count }) {
            throw ExpertError.expertOutOfRange(expert: bad, experts: count)
        }
    }
}
