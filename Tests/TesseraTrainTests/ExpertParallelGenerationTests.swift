import Foundation
import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// Generation from a saved mixture of experts with its experts split over ep ranks (the layout `tessera generate
/// --ep N` builds: ep data-parallel replicas of the dense weights, each with experts / ep of every layer's experts,
/// all running the same tokens and exchanging them with the experts' owners by all-to-all in every decoding step):
/// the greedy tokens of ep = 1, alone and with tp.
@Suite(.serialized) struct ExpertParallelGenerationTests {
    static let prompts: [[Int32]] = [[104, 101, 108, 108, 111], [119, 111, 114]]

    /// The `tiny-moe` preset (8 experts, top-2) at seed 3, saved as a Hugging Face directory.
    static let saved: String = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-moe-generate-\(getpid())").path
        let config = try! TransformerConfig.preset(named: "tiny-moe")
        let engine = try! MeshEngine(config: config, seed: 3)
        try! ModelCheckpoint(config: config, tensors: engine.model.fullParameters(), tokenizer: nil)
            .write(to: directory, format: .huggingFace, replacing: true)
        return directory
    }()

    /// Greedy continuations of ``prompts`` (decoded as one batch) on every rank of `parallel`.
    static func generate(_ parallel: ParallelConfig, zeroingExpertsOfRank broken: Int? = nil) throws -> [[[Int32]]] {
        try ThreadGroup.run(ranks: parallel.ranks, deadline: .seconds(60)) { world in
            let groups = parallel.ranks == 1 ? nil : try ProcessGroups(world: world, mesh: parallel.deviceMesh())
            let engine = try ModelLocation(path: saved).makeEngine(parallel: parallel, groups: groups)
            if world.rank == broken {
                for parameter in engine.model.store.parameters where parameter.spec.isExpert {
                    parameter.value.update(repeating: 0)
                }
            }
            return try Generator(engine: engine, sampling: SamplingOptions()).generate(prompts: prompts, maxNewTokens: 8)
        }
    }

    @Test(arguments: [(1, 2), (2, 2), (1, 4)])
    func expertParallelGenerationMatchesOneRank(tp: Int, ep: Int) throws {
        let reference = try Self.generate(ParallelConfig())[0]
        #expect(reference.allSatisfy { $0.count == 8 })
        let results = try Self.generate(ParallelConfig(dp: ep, tp: tp, ep: ep))
        #expect(results.allSatisfy { $0 == reference })
    }

    /// Non-vacuity: the experts held by one rank serve every rank's tokens, so zeroing them changes the tokens
    /// everywhere.
    @Test func oneRanksExpertsReachEveryRank() throws {
        let reference = try Self.generate(ParallelConfig())[0]
        let results = try Self.generate(ParallelConfig(dp: 2, ep: 2), zeroingExpertsOfRank: 1)
        #expect(results.allSatisfy { $0 != reference })
    }
}
