import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// The expert layer on one device (ep = 1) against a float64 reference and finite differences of it.
@Suite struct ExpertLayerTests {
    let fixture = ExpertFixture()

    struct Result {
        var y: [Float], dx: [Float], routingGradient: [Float], weightGradients: [String: [Float]]
        /// The global tokens per expert (summed over dp × cp).
        var tokensPerExpert: [Int]
    }

    /// Forward and backward of `layer` on `x` with output gradient `dy`.
    static func run(_ layer: ExpertLayer, store: ParameterStore, x: [Float], dy: [Float], routing: ExpertRouting,
                    mode: BackwardMode = .full) throws -> Result {
        let state = ExpertLayer.State(), workspace = Workspace(), queue = WeightGradientQueue()
        store.zeroGradients()
        let h = layer.hidden, tokens = routing.tokens
        let y = Array(UnsafeBufferPointer(start: try layer.forward(x, tokens: tokens, routing: routing, state: state, workspace: workspace),
                                          count: tokens * h))
        let gradients = try layer.backward(dy, state: state, workspace: workspace, queue: queue, mode: mode)
        let dx = Array(UnsafeBufferPointer(start: gradients.input, count: tokens * h))
        queue.run()
        let weights = Dictionary(uniqueKeysWithValues: store.parameters.map { ($0.name, Array($0.gradient)) })
        return Result(y: y, dx: dx, routingGradient: gradients.routingWeights, weightGradients: weights,
                      tokensPerExpert: try layer.globalTokensPerExpert(state))
    }

    /// Unbalanced (expert 2 gets nothing), with dropped slots.
    func sample(tokens: Int = 10) throws -> (ExpertRouting, [Float], [Float]) {
        let routing = try testRouting(tokens: tokens, topK: 2, experts: fixture.experts, seed: 11, choices: [0, 1, 3], dropEvery: 7)
        return (routing, testValues(count: tokens * fixture.hidden, stream: "x"), testValues(count: tokens * fixture.hidden, stream: "dy"))
    }

    @Test func forwardMatchesTheFloat64Reference() throws {
        let (store, layer) = try fixture.layer()
        let (routing, x, dy) = try sample()
        let result = try Self.run(layer, store: store, x: x, dy: dy, routing: routing)
        let reference = fixture.reference(x: x.map(Double.init), ids: routing.experts, weights: routing.weights.map(Double.init),
                                          topK: 2, parameters: try fixture.referenceWeights())
        #expect(worstRelativeError(result.y, reference) < 1e-5)
        #expect(result.weightGradients[ExpertFixture.name(2, .gate)]!.allSatisfy { $0 == 0 }, "expert 2 got no tokens")
        // Non-vacuity: the same routing sent to the next expert is far from the layer's output.
        let shifted = routing.experts.map { $0 < 0 ? $0 : ($0 + 1) % 4 }
        let wrong = fixture.reference(x: x.map(Double.init), ids: shifted, weights: routing.weights.map(Double.init), topK: 2,
                                      parameters: try fixture.referenceWeights())
        #expect(worstRelativeError(result.y, wrong) > 1e-2)
    }

    /// Every gradient (input, routing weights, each expert weight) against central differences of the float64
    /// reference of `L = Σ dy · y`.
    @Test func backwardMatchesFiniteDifferences() throws {
        let (store, layer) = try fixture.layer()
        let (routing, x, dy) = try sample(tokens: 6)
        let result = try Self.run(layer, store: store, x: x, dy: dy, routing: routing)
        let parameters = try fixture.referenceWeights()
        var inputs = (x: x.map(Double.init), w: routing.weights.map(Double.init), p: parameters)
        func loss() -> Double {
            zip(fixture.reference(x: inputs.x, ids: routing.experts, weights: inputs.w, topK: 2, parameters: inputs.p), dy)
                .reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        func derivative(_ element: WritableKeyPath<(x: [Double], w: [Double], p: [[[Double]]]), Double>) -> Double {
            let epsilon = 1e-5, saved = inputs[keyPath: element]
            inputs[keyPath: element] = saved + epsilon
            let plus = loss()
            inputs[keyPath: element] = saved - epsilon
            let minus = loss()
            inputs[keyPath: element] = saved
            return (plus - minus) / (2 * epsilon)
        }
        let dx = x.indices.map { derivative(\.x[$0]) }
        #expect(worstRelativeError(result.dx, dx) < 1e-4)
        let dw = routing.weights.indices.map { derivative(\.w[$0]) }
        #expect(worstRelativeError(result.routingGradient, dw) < 1e-4)
        #expect(zip(routing.experts, result.routingGradient).allSatisfy { $0.0 >= 0 || $0.1 == 0 }, "dropped slots get 0")
        for e in 0..<fixture.experts {
            for (p, projection) in ExpertProjection.allCases.enumerated() {
                let numeric = parameters[e][p].indices.map { derivative(\.p[e][p][$0]) }
                #expect(worstRelativeError(result.weightGradients[ExpertFixture.name(e, projection)]!, numeric) < 1e-4, "\(e) \(projection)")
            }
        }
    }

    /// Deferring the weight gradients (zero-bubble pipelines) gives the same bits.
    @Test func deferredWeightGradientsEqualImmediateOnes() throws {
        let (store, layer) = try fixture.layer()
        let (routing, x, dy) = try sample()
        let full = try Self.run(layer, store: store, x: x, dy: dy, routing: routing)
        let deferred = try Self.run(layer, store: store, x: x, dy: dy, routing: routing, mode: .inputOnly)
        #expect(full.weightGradients == deferred.weightGradients)
        #expect(full.dx == deferred.dx)
    }

    /// No tokens, and tokens whose every slot was dropped: zeros, no crash.
    @Test(arguments: [0, 5]) func emptyRoutingsGiveZeros(tokens: Int) throws {
        let (store, layer) = try fixture.layer()
        let routing = try ExpertRouting(topK: 2, experts: Array(repeating: ExpertRouting.dropped, count: tokens * 2),
                                        weights: Array(repeating: 0.5, count: tokens * 2))
        let result = try Self.run(layer, store: store, x: testValues(count: tokens * 8, stream: "x"),
                                  dy: testValues(count: tokens * 8, stream: "dy"), routing: routing)
        #expect(result.y.allSatisfy { $0 == 0 } && result.dx.allSatisfy { $0 == 0 } && result.routingGradient.allSatisfy { $0 == 0 })
        #expect(result.weightGradients.values.allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    @Test func permutationGroupsSlotsByExpert() {
        // Tokens: 0 → (2, 0), 1 → (0, dropped), 2 → (2, 1); three experts.
        let permutation = ExpertPermutation(ids: [2, 0, 0, -1, 2, 1], topK: 2, experts: 3)
        #expect(permutation.slots == [1, 2, 5, 0, 4])
        #expect(permutation.rowsPerExpert == [2, 1, 2])
        #expect(permutation.rowOfSlot == [3, 0, 1, -1, 4, 2])
        #expect(permutation.tokenOfRow == [0, 1, 2, 0, 2])
        #expect(ExpertPermutation(ids: [3, 0, 1, 3], topK: 1, experts: 4).rowsPerRank(ranks: 2) == [2, 2])
    }

    @Test func expertMajorOrderInterleavesSources() {
        // Source 0 sent 1 row for local expert 0 and 2 for expert 1; source 1 sent 2 and 0.
        let order = ExpertPermutation.expertMajorOrder(counts: [[1, 2], [2, 0]])
        #expect(order == [0, 3, 4, 1, 2])
        #expect(ExpertPermutation.inverse(of: order) == [0, 3, 4, 1, 2].indices.map { i in Int32(order.firstIndex(of: Int32(i))!) })
        #expect(ExpertPermutation.expertMajorOrder(counts: [[0, 0], [0, 0]]).isEmpty)
    }
}

/// Bad input to the expert layer: each a typed error naming the fix.
@Suite struct ExpertBadInputTests {
    @Test func expertsNotDivisibleByEpListTheValidEp() throws {
        let errors = try ThreadGroup.run(ranks: 3, deadline: .seconds(30)) { world in
            do {
                _ = try ExpertFixture(experts: 4).layer(context: LayerContext(tensor: nil, expert: world))
                return ""
            } catch { return "\(error)" }
        }
        #expect(errors.allSatisfy { $0 == "\(ExpertError.expertsNotDivisible(experts: 4, ep: 3, valid: [1, 2, 4]))" })
        #expect(errors[0].contains("use ep ∈ {1, 2, 4}"))
    }

    @Test func routingsThatDoNotFitAreRejected() throws {
        #expect(throws: ExpertError.self) { try ExpertRouting(topK: 0, experts: [], weights: []) }
        #expect(throws: ExpertError.self) { try ExpertRouting(topK: 2, experts: [0, 1, 2], weights: [1, 1, 1]) }
        #expect(throws: ExpertError.self) { try ExpertRouting(topK: 1, experts: [0, 1], weights: [1]) }
        let (_, layer) = try ExpertFixture().layer()
        let x = [Float](repeating: 0, count: 16)
        #expect(throws: ExpertError.expertOutOfRange(expert: 4, experts: 4)) {
            _ = try layer.forward(x, tokens: 2, routing: ExpertRouting(topK: 1, experts: [0, 4], weights: [1, 1]), state: .init(), workspace: .init())
        }
        #expect(throws: ExpertError.expertOutOfRange(expert: -2, experts: 4)) {
            _ = try layer.forward(x, tokens: 2, routing: ExpertRouting(topK: 1, experts: [0, -2], weights: [1, 1]), state: .init(), workspace: .init())
        }
        #expect(throws: ExpertError.self) {
            _ = try layer.forward(x, tokens: 2, routing: ExpertRouting(topK: 1, experts: [0], weights: [1]), state: .init(), workspace: .init())
        }
    }

    @Test func wrongNumberOfExpertWeightsIsRejected() throws {
        let (store, layer) = try ExpertFixture().layer()
        _ = store
        #expect(throws: ExpertError.wrongExpertCount(given: 3, expected: 4)) {
            _ = try ExpertLayer(experts: Array(layer.experts.prefix(3)), totalExperts: 4, context: .single)
        }
        #expect(throws: ExpertError.missingWeight(name: "experts.0.gate_proj.weight")) {
            _ = try ExpertLayer.weights(in: ParameterStore(specs: [], seed: 1), totalExperts: 4, context: .single, name: ExpertFixture.name)
        }
    }
}

/// Gradient buckets keep expert weights (reduced over the expert-data-parallel group) apart from dense ones.
@Test func bucketsNeverMixExpertAndDenseParameters() {
    let kinds = [false, true, true, false, true]
    let store = ParameterStore(specs: kinds.enumerated().map { i, expert in
        ParameterSpec(name: "p\(i)", globalShape: [4], initialization: .constant(0), isExpert: expert)
    }, seed: nil)
    let buckets = GradientBucket.plan(store, capacity: 1_000)
    #expect(buckets.map(\.parameters) == [4..<5, 3..<4, 1..<3, 0..<1])
    #expect(buckets.map(\.isExpert) == [true, false, true, false])
}
