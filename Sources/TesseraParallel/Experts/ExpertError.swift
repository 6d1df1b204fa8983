/// A mixture-of-experts layer that cannot be built or run as asked. Each message names the problem and the values
/// that would work.
public enum ExpertError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The experts do not split evenly over the expert-parallel ranks.
    case expertsNotDivisible(experts: Int, ep: Int, valid: [Int])
    /// A layer was given weights for `given` experts where this rank holds `expected`.
    case wrongExpertCount(given: Int, expected: Int)
    /// A routing's arrays do not have `tokens × topK` entries, or `topK` is not positive.
    case invalidRouting(reason: String)
    /// A routing names an expert outside `-1 ..< experts` (-1: a dropped slot).
    case expertOutOfRange(expert: Int32, experts: Int)
    /// Split experts' intermediate features do not divide by tp.
    case intermediateNotDivisible(intermediate: Int, tp: Int)
    /// A parameter store has no weight of this name for one of the rank's experts.
    case missingWeight(name: String)
    /// Forced load balance (a training benchmark's option) asked to route a decoding step, where it would ignore the
    /// router.
    case forcedBalanceInDecoding

    public var description: String {
        switch self {
        case let .expertsNotDivisible(experts, ep, valid):
            return "\(experts) experts do not split over ep=\(ep) expert-parallel ranks; use ep ∈ {\(valid.map(String.init).joined(separator: ", "))}"
        case let .wrongExpertCount(given, expected):
            return "weights for \(given) experts given, but this rank holds \(expected) (experts / ep)"
        case let .invalidRouting(reason):
            return "invalid expert routing: \(reason)"
        case let .expertOutOfRange(expert, experts):
            return "routing names expert \(expert), but the layer has experts 0..<\(experts) (and -1 for a dropped slot)"
        case let .intermediateNotDivisible(intermediate, tp):
            return "the experts' \(intermediate) intermediate features do not split over tp=\(tp); use whole experts"
                + " (ExpertTensorParallelism.whole) or tp ∈ {\((1...max(1, min(intermediate, 64))).filter { intermediate % $0 == 0 }.map(String.init).joined(separator: ", "))}"
        case let .missingWeight(name):
            return "no expert weight named \(name) in the parameters"
        case .forcedBalanceInDecoding:
            return "forced load balance routes tokens round-robin for training benchmarks and ignores the router, so generated text would be"
                + " meaningless; turn RouterConfiguration.forcesLoadBalance off to generate"
        }
    }
}
