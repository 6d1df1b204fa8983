import Foundation
import Testing
import TesseraFormats
import TesseraModels
import TesseraParallel
import TesseraTrain

/// Every kind of damage and every mismatch is refused with a one-line error naming the file or the option, and
/// an interrupted save never hides the last complete checkpoint.
@Suite(.serialized) struct CheckpointDamageTests {
    let fixture: CheckpointFixture
    /// A root with the checkpoints of steps 1 and 2 (kept: 2) of a 2-step single-device run.
    let root: String
    let step2: String

    init() throws {
        fixture = CheckpointFixture()
        root = fixture.newRoot()
        let layout = try ParallelConfig(microBatchSize: 4)
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(layout, steps: 2, root: root, every: 1)))
        step2 = root + "/" + CheckpointDirectory.name(step: 2)
    }

    /// Opening `path` throws an error whose one-line message contains every string of `expected`.
    func refuses(_ path: String, _ expected: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Checkpoint(path: path)
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
        } catch {
            let message = "\(error)"
            #expect(!message.contains("\n"), sourceLocation: sourceLocation)
            for text in expected { #expect(message.contains(text), "\(message)", sourceLocation: sourceLocation) }
        }
    }

    /// A copy of the step-2 checkpoint to damage.
    func copy() throws -> String {
        let path = fixture.newRoot()
        try FileManager.default.copyItem(atPath: step2, toPath: path)
        return path
    }

    @Test func aCompleteCheckpointOpensAndIsAHuggingFaceDirectory() throws {
        let checkpoint = try Checkpoint(path: root)
        #expect(checkpoint.path == step2)
        #expect(checkpoint.manifest.step == 2)
        #expect(checkpoint.manifest.tensors.contains { $0.state == "exp_avg_sq" })
        // `tessera eval --model ROOT/latest` reads it as a Hugging Face model.
        let location = try ModelLocation(path: root + "/latest")
        #expect(try location.config() == checkpoint.manifest.modelConfig())
        #expect(try SafeTensorsCheckpoint(path: root + "/latest").tensorNames.count == checkpoint.manifest.modelConfig().parameterSpecs(context: .single).count)
        // Kept: the newest 2; nothing half-written is left.
        #expect(CheckpointDirectory.checkpoints(in: root).map(\.step) == [1, 2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["latest", "step-0000001", "step-0000002"])
    }

    @Test func olderCheckpointsBeyondKAreRemoved() throws {
        let root = fixture.newRoot()
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(try ParallelConfig(microBatchSize: 4), steps: 4,
                                                                                    root: root, every: 1, keep: 2)))
        #expect(CheckpointDirectory.checkpoints(in: root).map(\.step) == [3, 4])
        #expect(try Checkpoint(path: root).manifest.step == 4)
    }

    @Test func anInterruptedSaveLeavesTheLastCompleteCheckpoint() throws {
        // A save killed before its manifest: a .partial directory; one killed before `latest` moved: no link.
        let partial = root + "/" + CheckpointDirectory.name(step: 3) + ".partial"
        try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: partial + "/optimizer-rank-00000.bin"))
        #expect(try Checkpoint(path: root).manifest.step == 2)
        try FileManager.default.removeItem(atPath: root + "/latest")
        #expect(try Checkpoint(path: root).manifest.step == 2)
    }

    @Test func truncatedMissingAndCorruptFilesAreNamed() throws {
        let truncated = try copy(), file = truncated + "/optimizer-rank-00000.bin"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try bytes.prefix(bytes.count - 8).write(to: URL(fileURLWithPath: file))
        refuses(truncated, file, "bytes, the manifest says", "earlier checkpoint")

        let missing = try copy()
        try FileManager.default.removeItem(atPath: missing + "/model-rank-00000.safetensors")
        refuses(missing, missing + "/model-rank-00000.safetensors", "missing")

        let corrupt = try copy(), target = corrupt + "/model-rank-00000.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: target))
        data[data.count - 3] ^= 0x40
        try data.write(to: URL(fileURLWithPath: target))
        refuses(corrupt, target, "checksum")
    }

    /// Rewrites the copy's manifest through `edit`.
    func editManifest(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let path = try copy(), file = path + "/manifest.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: file))
        return path
    }

    @Test func aManifestThatDisagreesWithTheFilesIsRefused() throws {
        let short = try editManifest { json in
            var tensors = json["tensors"] as! [[String: Any]]
            var pieces = tensors[0]["pieces"] as! [[String: Any]]
            pieces[0]["count"] = (pieces[0]["count"] as! Int) - 1
            tensors[0]["pieces"] = pieces
            json["tensors"] = tensors
        }
        refuses(short, short + "/manifest.json", "cover")
        let unlisted = try editManifest { json in
            json["files"] = (json["files"] as! [[String: Any]]).filter { ($0["name"] as! String) != "optimizer-rank-00000.bin" }
        }
        refuses(unlisted, "optimizer-rank-00000.bin", "does not list")
        let incomplete = try editManifest { json in
            json["tensors"] = (json["tensors"] as! [[String: Any]]).filter {
                !($0["state"] as! String == "exp_avg_sq" && $0["name"] as! String == "model.norm.weight")
            }
        }
        refuses(incomplete, incomplete + "/manifest.json", "lists no exp_avg_sq of model.norm.weight")
        let malformed = try editManifest { $0["step"] = "two" }
        refuses(malformed, malformed + "/manifest.json", "malformed")
    }

    @Test func anUnknownVersionOrAnotherDirectoryIsNotRead() throws {
        let future = try editManifest { $0["version"] = 99 }
        refuses(future, "version 99", "reads version \(CheckpointManifest.currentVersion)")
        // Version 1 (ContentHash checksums) is refused, not misread as CRC-32C.
        let older = try editManifest { $0["version"] = 1 }
        refuses(older, older + "/manifest.json", "version 1 is not supported", "the Tessera version that wrote it")
        let other = try editManifest { $0["format"] = "megatron" }
        refuses(other, "not a Tessera checkpoint", "megatron")
        refuses(fixture.directory, fixture.directory, "not a Tessera checkpoint", "no manifest.json")
        refuses(fixture.text, "not a Tessera checkpoint", "not a directory")
        refuses(fixture.directory + "/nothing", "no such directory")
    }

    /// Pieces that overlap (leaving others' elements out) pass the element count when the checkpoint opens; the
    /// resume refuses them, naming the manifest.
    @Test func overlappingPiecesAreRefusedOnResume() throws {
        let root = fixture.newRoot()
        _ = try CheckpointFixture.run(TrainingJob(configuration: fixture.configuration(try ParallelConfig(tp: 2, microBatchSize: 4),
                                                                                    steps: 2, root: root)))
        let saved = root + "/" + CheckpointDirectory.name(step: 2), manifest = saved + "/manifest.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifest))) as! [String: Any]
        var tensors = json["tensors"] as! [[String: Any]]
        let split = tensors.firstIndex { ($0["pieces"] as! [[String: Any]]).count == 2 && $0["state"] as! String == "exp_avg" }!
        var pieces = tensors[split]["pieces"] as! [[String: Any]]
        pieces[1]["sharding"] = pieces[0]["sharding"]
        tensors[split]["pieces"] = pieces
        json["tensors"] = tensors
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: manifest))
        let job = try TrainingJob(configuration: fixture.configuration(try ParallelConfig(microBatchSize: 4), steps: 3, resume: saved))
        #expect { _ = try job.makeTrainer(world: nil) } throws: { error in
            "\(error)".contains(manifest) && "\(error)".contains("overlap")
        }
    }

    /// Resuming `root` with `configuration` throws an error whose message contains every string of `expected`.
    func resumeRefused(_ configuration: TrainingConfiguration, _ expected: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try TrainingJob(configuration: configuration)
            Issue.record("the resume was accepted", sourceLocation: sourceLocation)
        } catch {
            for text in expected { #expect("\(error)".contains(text), "\(error)", sourceLocation: sourceLocation) }
        }
    }

    @Test func resumingAnotherModelTokenizerDataOrBatchIsRefused() throws {
        let layout = try ParallelConfig(microBatchSize: 4)
        resumeRefused(fixture.configuration(layout, config: "tiny-gpt2", resume: root), "the model", "TrainingConfiguration.model.config = tiny")
        resumeRefused(fixture.configuration(layout, tokenizer: step2, resume: root), "the tokenizer", "TrainingConfiguration.data.tokenizer = byte")
        var longer = fixture.configuration(layout, resume: root)
        longer.data.sequenceLength = 8
        resumeRefused(longer, "TrainingConfiguration.data.sequenceLength differs", "pass TrainingConfiguration.data.sequenceLength = 16")
        resumeRefused(fixture.configuration(layout, steps: 2, resume: root), "TrainingConfiguration.steps", "past the checkpoint's step 2")
        try Data(String(repeating: "A different text entirely, of another length. ", count: 30).utf8).write(to: URL(fileURLWithPath: fixture.text))
        resumeRefused(fixture.configuration(layout, resume: root), "the data file \(fixture.text)", "changed since the save")
    }
}
