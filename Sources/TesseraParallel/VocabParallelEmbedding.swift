import TesseraNN
import TesseraTensor

/// A token embedding whose vocabulary rows are split over the tensor-parallel group (Megatron's
/// `VocabParallelEmbedding`): each rank looks up the ids it owns (zero rows for the others) and the
/// partial rows are summed over tp (all-reduce, or reduce-scatter onto the sequence shards).
///
/// The table is this rank's contiguous `[vocabularyCount, hidden]` rows (balanced shares when tp does not
/// divide the vocabulary: the first `vocabulary % tp` ranks hold one row more).
public struct VocabParallelEmbedding: @unchecked Sendable {
    /// `[paddedVocabulary / tp, hidden]` as a Float32 parameter, or (inference) the shard's real rows
    /// `[vocabularyCount, hidden]` in their stored type, each looked-up row decoded on its own.
    public let table: LayerWeight
    /// First global vocabulary row of this rank's shard.
    public let vocabularyStart: Int
    /// Rows in this rank's shard.
    public let vocabularyCount: Int
    public let hidden: Int
    public let context: LayerContext

    /// - Parameter table: global `[vocabulary, hidden]`, split along dimension 0 (or whole on one rank).
    public init(table: Parameter, context: LayerContext) {
        let local = table.spec.localShape
        self.table = .parameter(table)
        self.hidden = local[1]
        self.vocabularyStart = table.spec.sharding.ranges(ofGlobal: table.spec.globalShape).first?.lowerBound ?? 0
        self.vocabularyCount = local[0]
        self.context = context
    }

    /// An embedding over this rank's vocabulary rows kept in their stored type (inference only).
    /// - Parameters:
    ///   - stored: the rows `vocabularyStart ..< vocabularyStart + stored.rows` of the table, `[rows, hidden]`.
    ///   - vocabularyStart: the first global row of this rank's shard (its balanced share's first row).
    public init(stored: QuantizedMatrix, vocabularyStart: Int, context: LayerContext) {
        self.table = .stored(stored)
        self.hidden = stored.columns
        self.vocabularyStart = vocabularyStart
        self.vocabularyCount = stored.rows
        self.context = context
    }

    /// Embeds `ids` `[tokens]`; returns this rank's rows `[localRows, hidden]` in `workspace`.
    public func forward(ids: UnsafePointer<Int32>, tokens: Int, workspace: Workspace) throws -> UnsafeMutablePointer<Float> {
        workspace.partial.reserve(tokens * hidden)
        switch table {
        case let .parameter(parameter):
            context.backend.embedding(ids: ids, table: parameter.value.baseAddress!, into: workspace.partial.pointer, tokens: tokens,
                                      columns: hidden, vocabularyStart: vocabularyStart, vocabularyCount: vocabularyCount)
        case let .stored(matrix):
            context.backend.embedding(ids: ids, stored: matrix, into: workspace.partial.pointer, tokens: tokens, vocabularyStart: vocabularyStart)
        }
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        return try mapping.forward(workspace.partial.pointer, rows: tokens, columns: hidden, scratch: workspace.reduced, in: context)
    }

    /// Accumulates the table gradient from `dy` `[localRows, hidden]`.
    public func backward(_ dy: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, tokens: Int, workspace: Workspace) throws {
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        let full = try mapping.backward(dy, rows: context.localRows(tokens: tokens), columns: hidden, scratch: workspace.gradient, in: context)
        context.backend.embeddingBackward(ids: ids, full, accumulatingInto: table.trainable.gradient.baseAddress!, tokens: tokens, columns: hidden,
                                  vocabularyStart: vocabularyStart, vocabularyCount: vocabularyCount)
    }
}
