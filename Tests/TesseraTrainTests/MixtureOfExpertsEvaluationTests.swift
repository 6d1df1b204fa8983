import Foundation
import Testing
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTrain

/// `Evaluation.evaluate` of a mixture of experts reports what training reports for the same tokens and weights: the
/// objective as `loss` (cross-entropy + 0.1 · load-balancing + 0.01 · z-loss for this Mixtral), `lmLoss` and
/// `auxLoss`, and the z-loss beside them; on pp 2 × tp 2 with sequence parallelism and on cp 2 it equals one device.
@Suite(.serialized) struct MixtureOfExpertsEvaluationTests {
    static let config = MixtureOfExpertsEquivalenceTests.mixtral
    /// Four 8-token windows and their targets: one forward pass of `batchSize` 4.
    static let ids: [Int32] = (0..<33).map { Int32(($0 * 7 + 3) % 61) }

    static func evaluate(_ engine: MeshEngine) throws -> EvaluationResult {
        try Evaluation.evaluate(engine, ids: ids, sequenceLength: 8, batchSize: 4, path: "ids", tokenizerName: "byte")
    }

    @Test func evaluationReportsTheTrainingObjective() throws {
        let engine = try MeshEngine(config: Self.config, seed: 11)
        let result = try Self.evaluate(engine)
        let batch = try MicroBatch(tokens: Array(Self.ids.dropLast()), targets: Array(Self.ids.dropFirst()), batch: 4, length: 8)
        let report = try engine.trainStep([batch], learningRate: 1e-3, maxGradientNorm: nil)
        let close = { (a: Double, b: Double) in abs(a - b) <= 1e-6 * abs(b) }
        #expect(result.tokens == 32)
        #expect(close(result.loss, report.loss), "\(result.loss) vs \(report.loss)")
        #expect(close(try #require(result.lmLoss), report.lmLoss))
        #expect(close(try #require(result.auxLoss), try #require(report.auxiliaryLoss)))
        let z = try #require(result.zLoss)
        #expect(z > 0 && close(result.loss, result.lmLoss! + 0.1 * result.auxLoss! + 0.01 * z))
        #expect(abs(result.perplexity - exp(result.lmLoss!)) < 1e-9)
        // Non-vacuity: the router losses are large enough that cross-entropy alone would fail the first check.
        #expect(!close(result.lmLoss!, report.loss))
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        #expect(["\"lm_loss\"", "\"aux_loss\"", "\"z_loss\""].allSatisfy(json.contains), "\(json)")
    }

    /// The router statistics are summed over the pipeline stages (each holds one of the two layers), over tp with
    /// sequence parallelism (each tp rank routes its own rows) and over cp (each rank holds part of every window).
    @Test(arguments: [try! ParallelConfig(pp: 2, tp: 2, sequenceParallel: true), try! ParallelConfig(cp: 2)])
    func layoutsEvaluateAsOneDevice(_ parallel: ParallelConfig) throws {
        let reference = try Self.evaluate(MeshEngine(config: Self.config, seed: 11))
        let results = try ThreadGroup.run(ranks: parallel.ranks, deadline: .seconds(60)) { world in
            let groups = try ProcessGroups(world: world, mesh: parallel.deviceMesh())
            return try Self.evaluate(MeshEngine(config: Self.config, parallel: parallel, groups: groups, seed: 11))
        }
        for result in results {
            for (value, expected) in [(result.loss, reference.loss), (result.lmLoss!, reference.lmLoss!), (result.auxLoss!, reference.auxLoss!),
                                      (result.zLoss!, reference.zLoss!)] {
                #expect(abs(value - expected) <= 1e-5 * abs(expected), "\(value) vs \(expected)")
            }
        }
    }

    /// A dense model's result is unchanged: `loss` is the cross-entropy and no router figure appears.
    @Test func denseModelsReportCrossEntropyOnly() throws {
        let dense = TransformerConfig.llama(vocabularySize: 61, contextLength: 16, hiddenSize: 32, layers: 2, heads: 4, kvHeads: 2,
                                            intermediateSize: 32, tiedEmbeddings: false)
        let result = try Self.evaluate(MeshEngine(config: dense, seed: 11))
        #expect(result.lmLoss == nil && result.auxLoss == nil && result.zLoss == nil)
        #expect(abs(result.perplexity - exp(result.loss)) < 1e-9)
    }
}
