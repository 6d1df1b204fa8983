import Testing
import TesseraCollectives
import TesseraNN
import TesseraParallel
import TesseraTensor

/// The shared expert run during the experts' all-to-all (non-blocking) gives the same bits as run after it
/// (blocking): outputs, input gradients and every weight gradient, at ep = 2 on threads and on one rank.
@Suite(.serialized) struct SharedExpertOverlapTests {
    static let fixture = ExpertFixture(experts: 4), sharedIntermediate = 10, tokens = 12

    struct Outcome: Equatable {
        var y: [UInt32], dx: [UInt32], gradients: [String: [UInt32]]
    }

    /// Forward and backward of a Qwen2-MoE layer on this rank's `tokens` rows (a shared expert unless `withShared` is
    /// false), the shared expert overlapped or not.
    static func run(context: LayerContext, rank: Int, overlaps: Bool, withShared: Bool = true) throws -> Outcome {
        let h = fixture.hidden, f = sharedIntermediate
        let (expertStore, experts) = try fixture.layer(context: context)
        let store = ParameterStore(specs: [
            ParameterSpec(name: "router", globalShape: [fixture.experts, h], initialization: .normal(std: 0.5)),
            ParameterSpec(name: "shared.gate", globalShape: [f, h], initialization: .normal(std: 0.4)),
            ParameterSpec(name: "shared.up", globalShape: [f, h], initialization: .normal(std: 0.4)),
            ParameterSpec(name: "shared.down", globalShape: [h, f], initialization: .normal(std: 0.4)),
            ParameterSpec(name: "shared_expert_gate", globalShape: [1, h], initialization: .normal(std: 0.5)),
        ], seed: 17)
        let configuration = RouterConfiguration(experts: fixture.experts, topK: 2, normalizesTopK: false)
        let router = Router(weight: store["router"]!, configuration: configuration, hidden: h, context: context)
        let up = ColumnParallelLinear(parts: ["shared.gate", "shared.up"].map {
            .init(weight: store[$0]!, bias: nil, layout: .outputMajor, inFeatures: h)
        }, context: context)
        let mlp = ParallelMLP(up: up, down: RowParallelLinear(weight: store["shared.down"]!, bias: nil, layout: .outputMajor, context: context),
                              activation: .swiglu, context: context)
        let shared = withShared ? MixtureOfExpertsLayer.SharedExpert(mlp: mlp, gate: store["shared_expert_gate"]!) : nil
        let layer = MixtureOfExpertsLayer(router: router, experts: experts, shared: shared, hidden: h, context: context,
                                          overlapsSharedExpert: overlaps)
        let x = FloatBuffer(testValues(count: tokens * h, stream: "x \(rank)"))
        let dy = FloatBuffer(testValues(count: tokens * h, stream: "dy \(rank)"))
        let state = MixtureOfExpertsLayer.State(), workspace = Workspace(), queue = WeightGradientQueue()
        let y = try layer.forward(x.pointer, tokens: tokens, sequences: SequenceRows(length: tokens), state: state, workspace: workspace)
        let yBits = UnsafeBufferPointer(start: y, count: tokens * h).map(\.bitPattern)
        let dx = try layer.backward(dy.pointer, input: x.pointer, tokens: tokens, losses: .none(experts: fixture.experts), state: state,
                                    workspace: workspace, queue: queue, mode: .full)
        let gradients = (store.parameters + expertStore.parameters).map { ($0.name, $0.gradient.map(\.bitPattern)) }
        return Outcome(y: yBits, dx: UnsafeBufferPointer(start: dx, count: tokens * h).map(\.bitPattern),
                       gradients: Dictionary(uniqueKeysWithValues: gradients))
    }

    static func runExpertParallel(overlaps: Bool, withShared: Bool = true) throws -> [Outcome] {
        try ThreadGroup.run(ranks: 2, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: DeviceMesh(dp: 2, ep: 2))
            return try run(context: LayerContext(groups: groups), rank: world.rank, overlaps: overlaps, withShared: withShared)
        }
    }

    @Test func overlappedEqualsBlockingAtEpTwo() throws {
        let overlapped = try Self.runExpertParallel(overlaps: true), blocking = try Self.runExpertParallel(overlaps: false)
        #expect(overlapped == blocking)
        // Non-vacuity: the shared expert changes every result the comparison looks at.
        let plain = try Self.runExpertParallel(overlaps: true, withShared: false)
        #expect(plain[0].y != overlapped[0].y && plain[0].dx != overlapped[0].dx)
    }

    @Test func overlappedEqualsBlockingOnOneRank() throws {
        #expect(try Self.run(context: .single, rank: 0, overlaps: true) == Self.run(context: .single, rank: 0, overlaps: false))
    }
}
