import Testing
import TesseraCollectives
import TesseraModels

/// Incremental decoding with key/value caches gives the logits of recomputing the whole prefix, and the
/// logits gathered over tp equal the single-device ones.
@Suite(.serialized) struct DecodingTests {
    @Test(arguments: [(TinyConfigs.gpt2, 1), (TinyConfigs.llama, 1), (TinyConfigs.llama, 4), (TinyConfigs.gpt2, 3)])
    func cachedDecodingMatchesRecomputation(config: TransformerConfig, tp: Int) throws {
        let prompt: [Int32] = [3, 14, 15, 9, 26]
        let reference = try TransformerEngine(config: config, seed: 4).nextTokenLogits(prompt)
        let gathered = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world in
            try TransformerEngine(config: config, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: tp)), seed: 4).nextTokenLogits(prompt)
        }
        #expect(gathered.allSatisfy { $0.count == config.vocabularySize && zip($0, reference).allSatisfy { abs($0 - $1) < 1e-5 } })
        let worst = try ThreadGroup.run(ranks: tp, deadline: .seconds(30)) { world -> Float in
            let engine = try TransformerEngine(config: config, groups: ProcessGroups(world: world, mesh: DeviceMesh(tp: tp)), seed: 4)
            let caches = engine.makeCaches()
            var sequence = prompt
            var worst: Float = 0
            var logits = try engine.decode(sequence, caches: caches)
            for step in 0..<6 {
                let full = try engine.nextTokenLogits(sequence)
                worst = max(worst, zip(logits, full).map { abs($0 - $1) }.max()!)
                let next = Int32((step * 7 + 5) % config.vocabularySize)
                sequence.append(next)
                logits = try engine.decode([next], caches: caches)
            }
            #expect(throws: ModelError.self) { try engine.decode(Array(repeating: 1, count: 10), caches: caches) }
            return worst
        }
        #expect(worst.allSatisfy { $0 < 1e-5 })
    }
}
