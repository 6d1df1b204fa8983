import Foundation
import Testing
import TesseraModels
import TesseraParallel
import TesseraTrain

/// `tessera checkpoint export DIR OUT`: a checkpoint's weights, written by several ranks, become one Hugging Face
/// directory or one GGUF file holding exactly the values a resume restores.
@Suite(.serialized) struct CheckpointExportTests {
    let fixture = CheckpointFixture()

    @Test func exportWritesTheRestoredWeightsAsAHuggingFaceDirectoryAndAGGUFFile() throws {
        let root = fixture.newRoot()
        let saving = fixture.configuration(try ParallelConfig(tp: 2, microBatchSize: 4), steps: 2, root: root)
        _ = try CheckpointFixture.run(TrainingJob(configuration: saving))
        let checkpoint = try Checkpoint(path: root)
        #expect(checkpoint.manifest.files.filter { $0.name.hasPrefix("model-rank-") }.count == 2)
        // What a one-rank resume holds, gathered as Hugging Face tensors.
        let resumed = try TrainingJob(configuration: fixture.configuration(try ParallelConfig(microBatchSize: 4), steps: 3, resume: root))
        let restored = Dictionary(uniqueKeysWithValues: try resumed.makeTrainer(world: nil).engine.model.fullParameters().map { ($0.name, $0.tensor) })
        // As `tessera checkpoint export` does it. GGUF cannot carry the byte tokenizer (no pre-tokenizer llama.cpp
        // names): that export is refused naming the file and the way out, and the weights alone export.
        var model = try ModelCheckpoint(contentsOf: checkpoint.path)
        let gguf = fixture.directory + "/exported.gguf"
        #expect { try model.write(to: gguf, format: .gguf) } throws: { error in
            "\(error)".contains(checkpoint.path + "/tokenizer.json") && "\(error)".contains("write a Hugging Face directory instead")
        }
        #expect(!FileManager.default.fileExists(atPath: gguf))
        for output in [fixture.directory + "/exported", gguf] {
            if output == gguf { model.tokenizer = nil }
            try model.write(to: output, format: ModelCheckpoint.Format(path: output))
            let exported = try ModelCheckpoint(contentsOf: output)
            #expect(exported.config.parameterCount == model.config.parameterCount, "\(output)")
            #expect(exported.tensors.count == restored.count, "\(output)")
            for (name, tensor) in exported.tensors {
                #expect(tensor == restored[name], "\(output): \(name)")
            }
        }
    }

    /// Not vacuous: a checkpoint one more step along exports other values, which the comparison catches.
    @Test func anotherStepsWeightsDiffer() throws {
        let root = fixture.newRoot()
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(try ParallelConfig(microBatchSize: 4), steps: 2, root: root, every: 1)))
        let first = try ModelCheckpoint(contentsOf: root + "/" + CheckpointDirectory.name(step: 1))
        let second = try ModelCheckpoint(contentsOf: root + "/" + CheckpointDirectory.name(step: 2))
        #expect(zip(first.tensors, second.tensors).contains { $0.tensor != $1.tensor })
    }
}
