import Foundation
import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// The router against a float64 reference written from the definitions (transformers' `MixtralTopKRouter`,
/// `Qwen2MoeTopKRouter` and `load_balancing_loss_func`, ST-MoE's z-loss), its backward against finite differences of
/// that reference, capacity drops by lowest score, and the statistics summed over data-parallel ranks.
@Suite struct RouterTests {
    static let hidden = 8, experts = 6, length = 5, sequences = 2
    static var tokens: Int { length * sequences }

    /// A router with its own weight and input, drawn from `seed`.
    struct Case {
        let store: ParameterStore
        let router: Router
        let x: [Float]

        init(_ configuration: RouterConfiguration, seed: UInt64, tokens: Int = RouterTests.tokens) {
            store = ParameterStore(specs: [ParameterSpec(name: "router", globalShape: [configuration.experts, hidden],
                                                         initialization: .normal(std: 1))], seed: seed)
            router = Router(weight: store["router"]!, configuration: configuration, hidden: hidden, context: .single)
            let random = DeterministicRandom(seed: seed, stream: "x")
            let buffer = FloatBuffer(count: tokens * hidden)
            random.fillNormal(buffer.mutableElements, indices: 0..<buffer.count)
            x = buffer.array
        }
    }

    /// The float64 reference of one layer: logits, probabilities, scores, the chosen experts and weights after
    /// capacity (`-1`/0 where dropped), and what the losses need.
    struct Reference {
        var probabilities: [[Double]] = [], logSumExp: [Double] = [], selected: [[Int]] = [], experts: [[Int]] = [], weights: [[Double]] = []

        init(weight: [Double], x: [Double], configuration c: RouterConfiguration, tokens: Int, length: Int) {
            let e = c.experts, h = RouterTests.hidden
            var scores: [[Double]] = []
            for t in 0..<tokens {
                let logits = (0..<e).map { i in (0..<h).reduce(0.0) { $0 + x[t * h + $1] * weight[i * h + $1] } }
                let m = logits.max()!, sum = logits.reduce(0.0) { $0 + Foundation.exp($1 - m) }
                probabilities.append(logits.map { Foundation.exp($0 - m) / sum })
                logSumExp.append(m + Foundation.log(sum))
                scores.append(c.scoring == .softmax ? probabilities[t] : logits.map { 1 / (1 + Foundation.exp(-$0)) })
                let chosen = Array((0..<e).sorted { scores[t][$0] != scores[t][$1] ? scores[t][$0] > scores[t][$1] : $0 < $1 }.prefix(c.topK))
                let total = chosen.reduce(0.0) { $0 + scores[t][$1] }
                selected.append(chosen)
                weights.append(chosen.map { c.normalizesTopK ? scores[t][$0] / total : scores[t][$0] })
            }
            experts = selected
            let capacity = c.capacity(length: length)
            for start in stride(from: 0, to: tokens, by: length) {
                for expert in 0..<e {
                    let slots = (start..<start + length).flatMap { t in (0..<c.topK).filter { selected[t][$0] == expert }.map { (t, $0) } }
                    let ranked = slots.sorted { scores[$0.0][expert] != scores[$1.0][expert] ? scores[$0.0][expert] > scores[$1.0][expert] : $0.0 < $1.0 }
                    for (t, j) in ranked.dropFirst(capacity) {
                        experts[t][j] = -1
                        weights[t][j] = 0
                    }
                }
            }
        }
    }

    /// The objective the backward pass differentiates, in float64: `Σ g·w` (a linear function of the combine
    /// weights standing for the expert layer) over every layer, plus the load-balancing and z-losses over all layers.
    static func objective(weights: [[Double]], inputs: [[Double]], coefficients: [[Double]], configuration c: RouterConfiguration) -> Double {
        let e = c.experts
        var assignments = [Double](repeating: 0, count: e), probabilities = assignments
        var combined = 0.0, squares = 0.0, rows = 0.0
        for (layer, weight) in weights.enumerated() {
            let r = Reference(weight: weight, x: inputs[layer], configuration: c, tokens: tokens, length: length)
            for t in 0..<tokens {
                for j in 0..<c.topK {
                    assignments[r.selected[t][j]] += 1
                    combined += coefficients[layer][t * c.topK + j] * r.weights[t][j]
                }
                for i in 0..<e { probabilities[i] += r.probabilities[t][i] }
                squares += r.logSumExp[t] * r.logSumExp[t]
                rows += 1
            }
        }
        let balance = Double(e) * zip(assignments, probabilities).reduce(0.0) { $0 + $1.0 * $1.1 } / (rows * rows)
        return combined + Double(c.auxiliaryWeight) * balance + Double(c.zLossCoefficient) * squares / rows
    }

    static let configurations: [RouterConfiguration] = [
        RouterConfiguration(experts: experts, topK: 2, normalizesTopK: true, includesAuxiliaryLoss: true, auxiliaryLossCoefficient: 0.3),
        RouterConfiguration(experts: experts, topK: 3, normalizesTopK: false, includesAuxiliaryLoss: true, auxiliaryLossCoefficient: 0.5,
                            zLossCoefficient: 0.2),
        RouterConfiguration(experts: experts, topK: 2, scoring: .sigmoid, normalizesTopK: true, capacityFactor: 1.0,
                            includesAuxiliaryLoss: true, auxiliaryLossCoefficient: 0.4, zLossCoefficient: 0.1),
        RouterConfiguration(experts: experts, topK: 2, normalizesTopK: false, capacityFactor: 0.5, zLossCoefficient: 0.3),
    ]

    @Test(arguments: configurations.indices)
    func forwardMatchesTheFloat64Reference(_ index: Int) throws {
        let c = Self.configurations[index], layer = Case(c, seed: UInt64(10 + index))
        let state = Router.State()
        let routing = try layer.x.withUnsafeBufferPointer {
            try layer.router.forward($0.baseAddress!, tokens: Self.tokens, sequences: SequenceRows(length: Self.length, batch: Self.tokens / Self.length), state: state)
        }
        let reference = Reference(weight: layer.store["router"]!.value.map(Double.init), x: layer.x.map(Double.init), configuration: c,
                                  tokens: Self.tokens, length: Self.length)
        #expect(routing.experts.map(Int.init) == reference.experts.flatMap { $0 })
        #expect(routing.selected.map(Int.init) == reference.selected.flatMap { $0 })
        for (a, b) in zip(routing.weights, reference.weights.flatMap { $0 }) { #expect(abs(Double(a) - b) < 1e-6) }
        let statistics = state.statistics
        #expect(statistics.tokens == Double(Self.tokens))
        #expect(statistics.assignments.reduce(0, +) == Double(Self.tokens * c.topK))
        let kept = reference.experts.flatMap { $0 }.filter { $0 >= 0 }.count
        #expect(statistics.kept.reduce(0, +) == Double(kept))
        if c.capacityFactor != nil {
            #expect(kept < Self.tokens * c.topK, "the capacity case must drop something to test drops")
            #expect(statistics.kept.allSatisfy { $0 <= Double(c.capacity(length: Self.length) * Self.sequences) })
        }
    }

    /// Two router layers coupled by the load-balancing loss: the weight and input gradients equal central finite
    /// differences of the float64 objective (step 1e-4; top-k and drops do not change within it for these seeds).
    @Test(arguments: configurations.indices)
    func backwardMatchesFiniteDifferencesOfTheReference(_ index: Int) throws {
        let c = Self.configurations[index], k = c.topK, h = Self.hidden
        let layers = [Case(c, seed: UInt64(20 + index)), Case(c, seed: UInt64(40 + index))]
        let states = [Router.State(), Router.State()]
        let random = DeterministicRandom(seed: 7, stream: "g")
        let coefficients = (0..<2).map { _ in
            let buffer = FloatBuffer(count: Self.tokens * k)
            random.fillNormal(buffer.mutableElements, indices: 0..<buffer.count)
            return buffer.array
        }
        for (layer, state) in zip(layers, states) {
            try layer.x.withUnsafeBufferPointer {
                _ = try layer.router.forward($0.baseAddress!, tokens: Self.tokens, sequences: SequenceRows(length: Self.length, batch: Self.tokens / Self.length), state: state)
            }
        }
        let losses = RouterLosses(layers: states.map(\.statistics), configuration: c)
        let gradient = losses.gradient(scale: 1)
        var dx: [[Float]] = []
        for (i, (layer, state)) in zip(layers, states).enumerated() {
            var input = [Float](repeating: 0, count: Self.tokens * h)
            layer.x.withUnsafeBufferPointer { x in
                layer.router.backward(coefficients[i], input: x.baseAddress!, losses: gradient, state: state, into: &input,
                                      accumulate: false, queue: WeightGradientQueue(), mode: .full)
            }
            dx.append(input)
        }
        let weights = layers.map { $0.store["router"]!.value.map(Double.init) }, inputs = layers.map { $0.x.map(Double.init) }
        let g = coefficients.map { $0.map(Double.init) }
        #expect(abs(losses.objective + zip(0..<2, states).reduce(0.0) { sum, pair in
            sum + zip(pair.1.routing.weights, coefficients[pair.0]).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        } - Self.objective(weights: weights, inputs: inputs, coefficients: g, configuration: c)) < 1e-5)
        let step = 1e-4
        func difference(_ perturb: (inout [[Double]], inout [[Double]], Double) -> Void) -> Double {
            var (w1, x1) = (weights, inputs), (w2, x2) = (weights, inputs)
            perturb(&w1, &x1, step)
            perturb(&w2, &x2, -step)
            return (Self.objective(weights: w1, inputs: x1, coefficients: g, configuration: c)
                - Self.objective(weights: w2, inputs: x2, coefficients: g, configuration: c)) / (2 * step)
        }
        var worst = 0.0
        for layer in 0..<2 {
            for i in stride(from: 0, to: c.experts * h, by: 5) {
                let numeric = difference { w, _, d in w[layer][i] += d }
                worst = max(worst, abs(Double(layers[layer].store["router"]!.gradient[i]) - numeric))
            }
            for i in stride(from: 0, to: Self.tokens * h, by: 7) {
                let numeric = difference { _, x, d in x[layer][i] += d }
                worst = max(worst, abs(Double(dx[layer][i]) - numeric))
            }
        }
        #expect(worst < 2e-4, "largest gradient difference \(worst)")

        // Non-vacuity: leaving the auxiliary losses out of the backward pass misses the same differences.
        guard c.auxiliaryWeight > 0 || c.zLossCoefficient > 0 else { return }
        let weight = layers[0].store["router"]!
        weight.gradient.update(repeating: 0)
        var unused = [Float](repeating: 0, count: Self.tokens * h)
        layers[0].x.withUnsafeBufferPointer { x in
            layers[0].router.backward(coefficients[0], input: x.baseAddress!, losses: .none(experts: c.experts), state: states[0], into: &unused,
                                      accumulate: false, queue: WeightGradientQueue(), mode: .full)
        }
        let missed = stride(from: 0, to: c.experts * h, by: 5).map { i in
            abs(Double(weight.gradient[i]) - difference { w, _, d in w[0][i] += d })
        }.max()!
        #expect(missed > 20 * 2e-4, "without the auxiliary losses the largest difference is only \(missed)")
    }

    /// Capacity keeps, per sequence and expert, the highest-scoring assignments (a hand-made case).
    @Test func capacityDropsTheLowestScores() {
        var routing = Routing(tokens: 4, topK: 1)
        routing.experts = [0, 0, 0, 1]
        routing.weights = [0.5, 0.9, 0.7, 0.6]
        routing.selected = routing.experts
        let scores = routing.weights
        RoutingMath.dropBeyondCapacity(&routing, length: 4, capacity: 2, experts: 2) { t, _ in scores[t] }
        #expect(routing.experts == [-1, 0, 0, 1])
        #expect(routing.weights == [0, 0.9, 0.7, 0.6])
        #expect(RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true, capacityFactor: 1.25).capacity(length: 8) == 5)
        #expect(RouterConfiguration(experts: 4, topK: 2, normalizesTopK: true).capacity(length: 8) == .max)
    }

    /// Two data-parallel ranks, each routing one sequence, hold the statistics of both sequences: equal to one rank
    /// routing both; a per-rank sum (no reduction) differs, so the equality is not vacuous.
    @Test func statisticsAreSummedOverTheDataGroup() throws {
        let c = Self.configurations[0]
        let whole = Case(c, seed: 3)
        let single = Router.State()
        try whole.x.withUnsafeBufferPointer {
            _ = try whole.router.forward($0.baseAddress!, tokens: Self.tokens, sequences: SequenceRows(length: Self.length, batch: Self.tokens / Self.length), state: single)
        }
        let perRank = try ThreadGroup.run(ranks: 2, deadline: .seconds(30)) { world in
            let layer = Case(c, seed: 3)
            let state = Router.State(), rows = Self.length * Self.hidden
            try layer.x.withUnsafeBufferPointer {
                _ = try layer.router.forward($0.baseAddress! + world.rank * rows, tokens: Self.length, sequences: SequenceRows(length: Self.length), state: state)
            }
            return try RouterStatistics.summed([state.statistics], over: AxisGroup(world))[0]
        }
        for statistics in perRank {
            #expect(statistics.assignments == single.statistics.assignments)
            #expect(statistics.tokens == single.statistics.tokens)
            for (a, b) in zip(statistics.probabilitySums, single.statistics.probabilitySums) { #expect(abs(a - b) < 1e-5) }
        }
        var local = RouterStatistics(experts: Self.experts)
        let state = Router.State()
        try whole.x.withUnsafeBufferPointer {
            _ = try whole.router.forward($0.baseAddress!, tokens: Self.length, sequences: SequenceRows(length: Self.length), state: state)
        }
        local = state.statistics
        #expect(RouterLosses(layers: [local], configuration: c).balance != RouterLosses(layers: [single.statistics], configuration: c).balance)
    }
}
