import Foundation
import TesseraFiles
import TesseraFormats
import TesseraModels
import TesseraNN
import TesseraParallel

/// The table of contents of one checkpoint directory (`manifest.json`), written last: its presence is the commit.
///
/// Every tensor is described by its global shape and its pieces; a piece is a run of one rank's local shard
/// (its ``Sharding`` and a range of local elements) stored as little-endian f32 at a byte offset of a file, so
/// a rank of any other layout can find the global elements it needs. Weights are full tensors in Hugging Face
/// safetensors files (one piece each); AdamW moments are the savers' local slices in raw files. Every file is
/// listed with its size and checksum.
public struct CheckpointManifest: Sendable, Hashable, Codable {
    /// Written as `format`; a directory whose manifest names another format is not a Tessera checkpoint.
    public static let formatName = "tessera-checkpoint"
    /// The version this build writes and reads. Version 2 checksums files with ``CRC32C`` (version 1 used
    /// `ContentHash`, a serial hash several times slower than the disk); version 1 checkpoints are refused.
    public static let currentVersion = 2
    public static let fileName = "manifest.json"

    /// One file of the checkpoint.
    public struct File: Sendable, Hashable, Codable {
        /// The name inside the checkpoint directory.
        public var name: String
        public var size: Int
        /// ``CRC32C`` of the bytes, eight hexadecimal digits.
        public var checksum: String
    }

    /// A run of one saver's local shard: `count` f32 values at byte `offset` of `file`, the local elements
    /// `localStart ..< localStart + count` of a shard split as `sharding`.
    public struct Piece: Sendable, Hashable, Codable {
        public var file: String
        public var offset: Int
        public var count: Int
        public var sharding: Sharding
        public var localStart: Int
    }

    /// One tensor: a parameter's value (`weight`) or one of its AdamW moments (`exp_avg`, `exp_avg_sq`).
    public struct TensorEntry: Sendable, Hashable, Codable {
        public var name: String
        public var state: String
        public var globalShape: [Int]
        /// Disjoint pieces that together cover every element once.
        public var pieces: [Piece]
    }

    /// The tokenizer the run used: its name and ``TokenizerChoice/fingerprint()``.
    public struct TokenizerIdentity: Sendable, Hashable, Codable {
        public var name: String
        public var fingerprint: String
    }

    /// The training text and where the run stands in it.
    public struct DataPosition: Sendable, Hashable, Codable {
        public var path: String
        /// Bytes of the text and ``ContentHash`` of them (hexadecimal).
        public var size: Int
        public var checksum: String
        /// Token ids in the stream.
        public var tokens: Int
        /// The next step (from 1) and the stream index of its first input (``BatchOrder``).
        public var nextStep: Int
        public var nextSequenceStart: Int
    }

    /// The learning-rate schedule's position: the steps taken and the rate of the last one.
    public struct SchedulePosition: Sendable, Hashable, Codable {
        public var completedSteps: Int
        public var lastLearningRate: Double
    }

    /// The random state: the initialization seed. Training itself draws no random numbers (data order, AdamW and
    /// every kernel are deterministic), so there are no further streams to save; `streams` lists any that exist.
    public struct RandomState: Sendable, Hashable, Codable {
        public var seed: UInt64
        public var streams: [String: UInt64]
    }

    public var format = Self.formatName
    public var version = Self.currentVersion
    /// Optimizer steps taken (the AdamW bias-correction `t` equals it).
    public var step: Int
    /// The layout the checkpoint was saved from.
    public var layout: ParallelConfig
    public var training: TrainingConfiguration
    /// The model's architecture as its Hugging Face `config.json` text (``TransformerConfig/huggingFaceJSON``).
    public var model: String
    public var tokenizer: TokenizerIdentity
    public var data: DataPosition
    public var schedule: SchedulePosition
    public var random: RandomState
    public var tensors: [TensorEntry]
    public var files: [File]

    /// The manifest as pretty JSON with sorted keys.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Bytes of every file.
    public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }

    /// The model's architecture.
    /// - Throws: ``ModelError`` when ``model`` is not a configuration this build reads.
    public func modelConfig() throws -> TransformerConfig {
        try TransformerConfig(huggingFaceJSON: model, path: Self.fileName)
    }
}

/// What each rank records of what it wrote (`rank-NNNNN.json` while a save is in progress); the first rank
/// merges every rank's record into the manifest.
struct RankRecord: Codable {
    var files: [CheckpointManifest.File]
    var tensors: [CheckpointManifest.TensorEntry]
}

extension CheckpointManifest.File {
    /// The entry of the file `name` in `directory`, its checksum computed from the bytes on disk (mapped, so
    /// the bytes are read once, at memory speed when they are cached).
    /// - Throws: ``CheckpointError/damaged(file:reason:)`` when the file cannot be read.
    init(name: String, in directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(name)
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw CheckpointError.damaged(file: path, reason: "cannot be read: \(error)")
        }
        var crc = CRC32C()
        crc.update(file.bytes(in: 0..<file.count))
        self.init(name: name, size: file.count, checksum: crc.hexadecimal)
    }
}
