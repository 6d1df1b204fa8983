import TesseraNN
import TesseraTensor

/// A token embedding whose vocabulary rows are split over the tensor-parallel group (Megatron's
/// `VocabParallelEmbedding`): each rank looks up the ids it owns (zero rows for the others) and the
/// partial rows are summed over tp (all-reduce, or reduce-scatter onto the sequence shards).
///
/// The table is this rank's contiguous `[vocabularyCount, hidden]` rows (balanced shares when tp does not
/// divide the vocabulary: the first `vocabulary % tp` ranks hold one row more).
public struct VocabParallelEmbedding: @unchecked Sendable {
    public let table: Parameter
    /// First global vocabulary row of this rank's shard.
    public let vocabularyStart: Int
    /// Rows in this rank's shard.
    public let vocabularyCount: Int
    public let hidden: Int
    public let context: LayerContext

    /// - Parameter table: global `[vocabulary, hidden]`, split along dimension 0 (or whole on one rank).
    public init(table: Parameter, context: LayerContext) {
        let local = table.spec.localShape
        self.table = table
        self.hidden = local[1]
        self.vocabularyStart = table.spec.sharding.ranges(ofGlobal: table.spec.globalShape).first?.lowerBound ?? 0
        self.vocabularyCount = local[0]
        self.context = context
    }

    /// Embeds `ids` `[tokens]`; returns this rank's rows `[localRows, hidden]` in `workspace`.
    public func forward(ids: UnsafePointer<Int32>, tokens: Int, workspace: Workspace) throws -> UnsafeMutablePointer<Float> {
        workspace.partial.reserve(tokens * hidden)
        context.backend.embedding(ids: ids, table: table.value.baseAddress!, into: workspace.partial.pointer, tokens: tokens,
                          columns: hidden, vocabularyStart: vocabularyStart, vocabularyCount: vocabularyCount)
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        return try mapping.forward(workspace.partial.pointer, rows: tokens, columns: hidden, scratch: workspace.reduced, in: context)
    }

    /// Accumulates the table gradient from `dy` `[localRows, hidden]`.
    public func backward(_ dy: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, tokens: Int, workspace: Workspace) throws {
        let mapping = context.sequenceParallel ? context.mappings.reduceScatterToSequenceRegion : context.mappings.reduceFromTensorRegion
        let full = try mapping.backward(dy, rows: context.localRows(tokens: tokens), columns: hidden, scratch: workspace.gradient, in: context)
        context.backend.embeddingBackward(ids: ids, full, accumulatingInto: table.gradient.baseAddress!, tokens: tokens, columns: hidden,
                                  vocabularyStart: vocabularyStart, vocabularyCount: vocabularyCount)
    }
}
