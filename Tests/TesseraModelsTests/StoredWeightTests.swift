import Foundation
import Testing
import TesseraCollectives
import TesseraFormats
import TesseraModels
import TesseraNN
import TesseraParallel
import TesseraTensor

/// Inference on weights kept in their stored type (``WeightFormat/stored``) against the Float32 path
/// (``WeightFormat/float32``, `--dequantize`) on the tiny Llama and GPT-2 written as GGUF files.
///
/// Tolerances: an F32 file multiplies Float32 activations by the same Float32 weights, so logits agree to 1e-5 of
/// the largest; a Q8_0 file's products quantize the activations to 8 bits per block of 32 (as llama.cpp does),
/// which moves a logit by at most 2 % of the largest on these models.
@Suite(.serialized) struct StoredWeightTests {
    static let batch = try! MicroBatch(tokens: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], targets: nil, batch: 2, length: 6)

    /// The tiny model `name` written as a GGUF file of `dtype`.
    static func gguf(_ name: String, _ dtype: DType, in scratch: ScratchDirectory) throws -> String {
        let path = scratch.file("\(name)-\(dtype).gguf")
        try ModelCheckpoint(contentsOf: ConversionFixtures.directory(name)).write(to: path, format: .gguf, dtype: dtype)
        return path
    }

    /// The largest logit difference relative to the largest logit.
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!
    }

    /// On every layout (tp 1, 2, 4; with tp = 2 the tiny Llama's output projection, 16 columns per rank, does not
    /// fill a Q8_0 block and stays Float32 alone), the stored path's logits follow the Float32 path's.
    @Test(arguments: [("llama-tiny", DType.f32, 1e-5), ("llama-tiny", .q8_0, 0.02), ("gpt2-tiny", .q8_0, 0.02)])
    func storedLogitsFollowTheFloat32Path(model: String, dtype: DType, tolerance: Float) throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf(model, dtype, in: scratch)
        let reference = try MeshEngine(gguf: path).logits(Self.batch)
        for tp in [1, 2, 4] {
            let logits = try ThreadGroup.run(ranks: tp, deadline: .seconds(60)) { world in
                let groups = tp == 1 ? nil : try ProcessGroups(world: world, mesh: DeviceMesh(tp: tp))
                return try MeshEngine(gguf: path, groups: groups, weights: .stored).logits(Self.batch)
            }[0]
            let difference = Self.relativeDifference(logits, reference)
            #expect(difference <= tolerance, "\(model) \(dtype) tp \(tp): \(difference)")
        }
    }

    /// A prompt of 16 rows or more goes through Float32 tiles of the dequantized weights into `cblas_sgemm`: the
    /// Float32 path's logits to Float32 rounding even for Q8_0 weights (no activation quantization).
    @Test func promptsUseDequantizedTiles() throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf("llama-tiny", .q8_0, in: scratch)
        let prompt = try MicroBatch(tokens: (0..<16).map { Int32($0 * 7 % 61) }, targets: nil, batch: 2, length: 8)
        let reference = try MeshEngine(gguf: path).logits(prompt)
        #expect(Self.relativeDifference(try MeshEngine(gguf: path, weights: .stored).logits(prompt), reference) <= 1e-5)
    }

    /// Non-vacuity: the comparison above catches a stored path that maps rows wrongly (here the value rows put through
    /// the rotary permutation meant for queries and keys): the tiny Llama's logits move far beyond the F32 tolerance.
    @Test func wronglyMappedRowsAreCaught() throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf("llama-tiny", .f32, in: scratch)
        let reference = try MeshEngine(gguf: path).logits(Self.batch)
        let file = try GGUFFile(path: path)
        let config = try TransformerConfig(gguf: file)
        let broken = WrongRotaryOrder(inner: GGUFParameterSource(file: file, config: config), file: file)
        let engine = try MeshEngine(config: config, parallel: ParallelConfig(), groups: nil, seed: nil, storedWeights: broken)
        try engine.model.load(from: GGUFParameterSource(file: file, config: config))
        let difference = Self.relativeDifference(try engine.logits(Self.batch), reference)
        #expect(difference > 1e-3, "\(difference)")
    }

    /// The stored path keeps no Float32 copy of a matrix: the parameter store holds only the norms, and the stored
    /// weights' bytes equal the file's matrix bytes (the tied head is the embedding, held once).
    @Test func weightsTakeTheFilesBytes() throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf("gpt2-tiny", .q8_0, in: scratch)
        let engine = try MeshEngine(gguf: path, weights: .stored)
        let file = try GGUFFile(path: path)
        let matrixBytes = file.tensorNames.compactMap(file.info(named:))
            .filter { $0.shape.count == 2 && $0.name != "position_embd.weight" }.reduce(0) { $0 + $1.byteRange.count }
        #expect(engine.model.storedWeightBytes == matrixBytes)
        #expect(engine.model.store.parameters.allSatisfy { $0.spec.globalShape.count == 1 || $0.name == "transformer.wpe.weight" })
        #expect(engine.model.parameterBytes == matrixBytes + engine.model.store.valueBytes)
    }

    /// An engine with stored weights evaluates and generates but refuses to train or gather Float32 parameters,
    /// naming the fix.
    @Test func storedWeightsRefuseTraining() throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf("llama-tiny", .q8_0, in: scratch)
        let engine = try MeshEngine(gguf: path, weights: .stored)
        let batch = try MicroBatch(tokens: [1, 2, 3, 4], targets: [2, 3, 4, 5], batch: 1, length: 4)
        let message = ConversionBadInputTests.message { _ = try engine.trainStep([batch], learningRate: 1e-3, maxGradientNorm: nil) }
        #expect(message.contains("training needs Float32 weights") && message.contains("WeightFormat.float32"))
        #expect(ConversionBadInputTests.message { _ = try engine.fullParameters() }.contains("gathering the parameters needs Float32 weights"))
        #expect(try engine.evaluate(batch).tokens == 4)
    }

    /// A tensor type without a matrix kernel (an I32 weight) is named with the types that have one; the Float32
    /// path still reads it.
    @Test func aTypeWithoutAKernelIsNamed() throws {
        let scratch = try ScratchDirectory(), path = try Self.gguf("llama-tiny", .f32, in: scratch)
        try Self.retype("blk.0.ffn_down.weight", to: 26, in: path)  // ggml's I32: as many bytes as F32
        let message = ConversionBadInputTests.message { _ = try MeshEngine(gguf: path, weights: .stored) }
        #expect(message.contains("blk.0.ffn_down.weight") && message.contains("I32 has no matrix kernel"))
        #expect(message.contains("Q4_1") && message.contains("Q6_K"))
        _ = try MeshEngine(gguf: path)
    }

    /// The tensor shards of the stored path as pure index math: column-parallel rows (GPT-2's fused `c_attn` in three
    /// blocks; Llama's rotary rows put back in Hugging Face order), row-parallel columns on whole blocks, and a
    /// split through a block refused.
    @Test func shardsFollowTheSharding() throws {
        let fused = ParameterSpec(name: "w", globalShape: [4, 12], sharding: .split(dimension: 1, parts: 2, index: 1, blocks: 3),
                                  initialization: .constant(0))
        let rows = StoredShard(spec: fused, storedShape: [12, 4], transposed: true, rotaryHeads: nil, blockSize: 1)
        #expect(rows?.rows == [2, 3, 6, 7, 10, 11] && rows?.columns == 0..<4)
        let query = ParameterSpec(name: "q", globalShape: [8, 64], sharding: .split(dimension: 0, parts: 2, index: 1), initialization: .constant(0))
        #expect(StoredShard(spec: query, storedShape: [8, 64], transposed: false, rotaryHeads: 2, blockSize: 32)?.rows == [4, 6, 5, 7])
        let down = ParameterSpec(name: "d", globalShape: [8, 64], sharding: .split(dimension: 1, parts: 2, index: 1), initialization: .constant(0))
        #expect(StoredShard(spec: down, storedShape: [8, 64], transposed: false, rotaryHeads: nil, blockSize: 32)?.columns == 32..<64)
        #expect(StoredShard(spec: down, storedShape: [8, 64], transposed: false, rotaryHeads: nil, blockSize: 64) == nil)
    }

    /// Rewrites the ggml type of tensor `name` in the GGUF header at `path`.
    static func retype(_ name: String, to type: UInt32, in path: String) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let range = try #require(bytes.range(of: Data(name.utf8)))
        let dimensions = Int(bytes[range.upperBound])
        let at = range.upperBound + 4 + 8 * dimensions
        withUnsafeBytes(of: type.littleEndian) { bytes.replaceSubrange(at..<at + 4, with: $0) }
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}

/// A stored-weight source that reorders the value rows as if they were rotary-permuted.
private struct WrongRotaryOrder: StoredWeightSource {
    let inner: GGUFParameterSource
    let file: GGUFFile

    func storedMatrix(for spec: ParameterSpec) throws -> QuantizedMatrix? {
        guard spec.name.hasSuffix("v_proj.weight") else { return try inner.storedMatrix(for: spec) }
        let matrix = try file.matrix(named: inner.config.ggufLayout(of: spec.name).name)
        let shard = try #require(StoredShard(spec: spec, storedShape: matrix.shape, transposed: false,
                                             rotaryHeads: inner.config.attention.kvHeads, blockSize: 1))
        return try matrix.gathering(rows: shard.rows, columns: shard.columns)
    }
}
