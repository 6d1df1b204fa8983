import ArgumentParser
import Foundation
import TesseraModels
import TesseraTrain

/// `tessera checkpoint …`: look into and convert the distributed checkpoints `tessera train --checkpoint-dir` writes.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Inspect or export a distributed training checkpoint.",
        subcommands: [CheckpointInspect.self, CheckpointExport.self])
}

/// `tessera checkpoint inspect DIR`: the layout, step, tensors and sizes, after validating every checksum.
struct CheckpointInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Validate a checkpoint (every file's size and checksum) and print what it holds.")

    @OptionGroup var location: CheckpointLocation

    @Flag(help: "List every tensor with its shape and pieces.")
    var tensors = false

    func run() throws {
        let checkpoint = try Checkpoint(path: location.directory)
        let m = checkpoint.manifest, p = m.layout, t = m.training, model = try m.modelConfig()
        print("""
            \(checkpoint.path): \(CheckpointManifest.formatName) version \(m.version), step \(m.step) of \(t.steps)
            model: \(t.model.initialCheckpoint ?? t.model.config) (\(model.family.name), \(model.parameterCount) parameters)
            saved from: dp=\(p.dp) × pp=\(p.pp) × tp=\(p.tp) × cp=\(p.cp)\(p.ep > 1 ? " (ep=\(p.ep) within dp × cp)" : ""), ZeRO-\(p.memory.zeroStage), \(p.pipeline.schedule.rawValue), micro-batch \(p.microBatchSize)
            tokenizer: \(m.tokenizer.name); data: \(m.data.path) (\(m.data.size) bytes, \(m.data.tokens) tokens), next step \(m.data.nextStep) \
            starts at token \(m.data.nextSequenceStart); last learning rate \(m.schedule.lastLearningRate); seed \(m.random.seed)
            \(m.tensors.count) tensors (weights and AdamW moments) in \(m.files.count) files, \(m.totalBytes) bytes: every size and checksum valid
            """)
        guard tensors else { return }
        for tensor in m.tensors {
            print("  \(tensor.state.padding(toLength: 10, withPad: " ", startingAt: 0)) \(tensor.name) \(tensor.globalShape): "
                  + tensor.pieces.map { "\($0.file)@\($0.offset) \($0.sharding) [\($0.localStart)..<\($0.localStart + $0.count)]" }.joined(separator: ", "))
        }
    }
}

/// `tessera checkpoint export DIR OUT`: the checkpoint's weights as a Hugging Face directory or a GGUF file.
struct CheckpointExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a checkpoint's model as a Hugging Face directory or (OUT ending in .gguf) a GGUF file.")

    @OptionGroup var location: CheckpointLocation

    @OptionGroup var target: ModelOutputOptions

    func run() throws {
        let checkpoint = try Checkpoint(path: location.directory)
        try target.write(ModelCheckpoint(contentsOf: checkpoint.path))
        print("\(checkpoint.path) (step \(checkpoint.manifest.step)) → \(target.output)"
              + " (\(target.format == .gguf ? "GGUF" : "Hugging Face directory"), \(target.dtype))")
    }
}

/// The checkpoint a `tessera checkpoint` command reads.
struct CheckpointLocation: ParsableArguments {
    @Argument(help: "A step-NNNNNNN checkpoint directory, or a --checkpoint-dir root (its latest).")
    var directory: String
}
