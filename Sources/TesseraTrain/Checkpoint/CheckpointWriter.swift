import Foundation
import TesseraFiles
import TesseraFormats
import TesseraModels

extension TrainingJob {
    /// Saves `trainer`'s state after step `step` as `root/step-NNNNNNN/` (every rank of the job calls it).
    ///
    /// The save is built in `step-NNNNNNN.partial/`: every rank writes its own files in parallel (its share of
    /// the full weights as Hugging Face safetensors, its AdamW moment pieces raw), each through a temporary file
    /// that is fsynced and renamed, plus a record of them; then the first rank adds `config.json`, the tokenizer,
    /// the safetensors index and, last, the manifest, renames the directory into place, flushes the root, points
    /// `latest` at it and removes checkpoints beyond the newest K. A crash at any moment leaves the previous
    /// complete checkpoint as it was.
    /// - Throws: ``TrainingError/unwritable(path:reason:)``, ``FileWriteError``, ``CollectiveError``.
    public func saveCheckpoint(_ trainer: Trainer, step: Int) throws {
        guard let staging = try beginCheckpoint(trainer, step: step) else { return }
        let world = trainer.engine.groups?.world
        let rank = world?.rank ?? 0
        try writeRank(CheckpointSnapshot(engine: trainer.engine, into: nil), rank: rank, into: staging)
        try world?.barrier()
        if rank == 0 {
            try commitCheckpoint(staging, step: step, learningRate: trainer.schedule.learningRate(atStep: step), ranks: world?.size ?? 1)
        }
        try world?.barrier()
    }

    /// The first rank creates the staging directory `root/step-NNNNNNN.partial` afresh (every rank waits for it).
    /// Returns its path, or `nil` when the run writes no checkpoints.
    func beginCheckpoint(_ trainer: Trainer, step: Int) throws -> String? {
        guard let root = configuration.checkpoint.directory else { return nil }
        let world = trainer.engine.groups?.world
        let staging = (root as NSString).appendingPathComponent(CheckpointDirectory.name(step: step) + CheckpointDirectory.partialSuffix)
        if (world?.rank ?? 0) == 0 {
            do {
                if FileManager.default.fileExists(atPath: staging) { try FileManager.default.removeItem(atPath: staging) }
                try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
                AtomicFile.syncDirectory(root)
            } catch {
                throw TrainingError.unwritable(path: staging, reason: error.localizedDescription)
            }
        }
        try world?.barrier()
        return staging
    }

    /// Writes one rank's files and its record (no communication).
    func writeRank(_ snapshot: CheckpointSnapshot, rank: Int, into staging: String) throws {
        let record = try Self.writeShards(of: snapshot, rank: rank, into: staging)
        try AtomicWrite.write([UInt8](try JSONEncoder().encode(record)), to: Self.recordPath(rank: rank, in: staging))
    }

    /// The first rank's commit once every rank's record is written: the shared files and the manifest, the rename
    /// into place, `latest`, and the removal of checkpoints beyond K (no communication).
    func commitCheckpoint(_ staging: String, step: Int, learningRate: Float, ranks: Int) throws {
        guard let root = configuration.checkpoint.directory, let identity = checkpointIdentity else { return }
        let manifest = try finish(staging, step: step, learningRate: learningRate, ranks: ranks, identity: identity)
        try AtomicWrite.write([UInt8](try manifest.encoded()), to: (staging as NSString).appendingPathComponent(CheckpointManifest.fileName))
        try CheckpointDirectory.commit(staging, step: step, root: root)
        try CheckpointDirectory.prune(root, keep: configuration.checkpoint.keep)
    }

    static func recordPath(rank: Int, in directory: String) -> String {
        (directory as NSString).appendingPathComponent("rank-\(padded(rank)).json")
    }

    private static func padded(_ n: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// Writes this rank's weights (one safetensors file, each tensor straight from its memory) and moment pieces
    /// (one raw file) into `directory` and returns what it wrote; each file is checksummed as it is written.
    private static func writeShards(of snapshot: CheckpointSnapshot, rank: Int, into directory: String) throws -> RankRecord {
        var record = RankRecord(files: [], tensors: [])
        let weights = snapshot.weights
        if !weights.isEmpty {
            let name = "model-rank-\(padded(rank)).safetensors"
            let (header, offsets) = SafeTensorsWriter.layout(of: weights.map { ($0.name, $0.shape, .f32) })
            let (size, crc) = try AtomicFile.write(to: (directory as NSString).appendingPathComponent(name)) { sink in
                try sink.write(header)
                for tensor in weights { try sink.write(UnsafeRawBufferPointer(tensor.values)) }
                return (sink.offset, sink.checksum)
            }
            for (tensor, offset) in zip(weights, offsets) {
                let piece = CheckpointManifest.Piece(file: name, offset: offset, count: tensor.values.count, sharding: .replicated, localStart: 0)
                record.tensors.append(.init(name: tensor.name, state: MeshEngine.weightState, globalShape: tensor.shape, pieces: [piece]))
            }
            record.files.append(.init(name: name, size: size, checksum: crc.hexadecimal))
        }
        let pieces = snapshot.moments
        if !pieces.isEmpty {
            let name = "optimizer-rank-\(padded(rank)).bin"
            let (size, crc) = try AtomicFile.write(to: (directory as NSString).appendingPathComponent(name)) { sink in
                for moment in OptimizerMoment.allCases {
                    for piece in pieces {
                        let saved = CheckpointManifest.Piece(file: name, offset: sink.offset, count: piece.localRange.count,
                                                             sharding: piece.spec.sharding, localStart: piece.localRange.lowerBound)
                        record.tensors.append(.init(name: piece.spec.name, state: moment.rawValue, globalShape: piece.spec.globalShape,
                                                    pieces: [saved]))
                        try sink.write(UnsafeRawBufferPointer(piece.values(moment)))
                    }
                }
                return (sink.offset, sink.checksum)
            }
            record.files.append(.init(name: name, size: size, checksum: crc.hexadecimal))
        }
        return record
    }

    /// The first rank's part: merges every rank's record, writes `config.json`, the tokenizer and the
    /// safetensors index, and returns the manifest (not yet written).
    private func finish(_ staging: String, step: Int, learningRate: Float, ranks: Int,
                        identity: CheckpointIdentity) throws -> CheckpointManifest {
        var files: [CheckpointManifest.File] = []
        var tensors: [CheckpointManifest.TensorEntry] = []
        var index: [String: Int] = [:]
        for rank in 0..<ranks {
            let path = Self.recordPath(rank: rank, in: staging)
            let record = try JSONDecoder().decode(RankRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            try FileManager.default.removeItem(atPath: path)
            files += record.files
            for tensor in record.tensors {
                let key = "\(tensor.state)/\(tensor.name)"
                if let at = index[key] { tensors[at].pieces += tensor.pieces } else { index[key] = tensors.count; tensors.append(tensor) }
            }
        }
        let weights = tensors.filter { $0.state == MeshEngine.weightState }
        let weightMap = JSONObject(weights.sorted { $0.name < $1.name }.map { .init(key: $0.name, value: .string($0.pieces[0].file)) })
        let total = weights.reduce(0) { $0 + 4 * $1.globalShape.reduce(1, *) }
        let indexJSON = JSONValue.object(JSONObject([
            .init(key: "metadata", value: .object(JSONObject(["total_size": .integer(Int64(total))]))),
            .init(key: "weight_map", value: .object(weightMap)),
        ]))
        try AtomicWrite.write(indexJSON.serialized, to: (staging as NSString).appendingPathComponent(SafeTensorsCheckpoint.indexFileName))
        try modelConfig.writeHuggingFaceConfig(toDirectory: staging)
        try tokenizer.save(toDirectory: staging)
        let written = Set(files.map(\.name))
        for name in try FileManager.default.contentsOfDirectory(atPath: staging).sorted() where !written.contains(name) {
            files.append(try .init(name: name, in: staging))
        }
        let order = data.order
        return CheckpointManifest(
            step: step, layout: configuration.parallelism, training: configuration, model: modelConfig.huggingFaceJSON, tokenizer: identity.tokenizer,
            data: .init(path: configuration.data.path, size: identity.dataSize, checksum: identity.dataChecksum, tokens: order.streamLength,
                        nextStep: step + 1, nextSequenceStart: order.start(step: step, sequence: 0)),
            schedule: .init(completedSteps: step, lastLearningRate: Double(shortest: learningRate)),
            random: .init(seed: configuration.seed, streams: [:]), tensors: tensors, files: files)
    }
}
