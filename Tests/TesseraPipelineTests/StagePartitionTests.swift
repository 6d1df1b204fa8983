import Testing
import TesseraPipeline

@Suite struct StagePartitionTests {
    @Test func explicitLayoutIsValidated() throws {
        let partition = try StagePartition(layout: "5, 6,6,5", layers: 22, stages: 4)
        #expect(partition.layers == [0..<5, 5..<11, 11..<17, 17..<22])
        #expect(partition.layout == "5,6,6,5")
        #expect(partition.layers(rank: 2) == 11..<17)
        func reason(_ layout: String, layers: Int = 22, stages: Int = 4, virtual: Int = 1) -> String {
            do { _ = try StagePartition(layout: layout, layers: layers, stages: stages, virtualStages: virtual); return "" }
            catch { return "\(error)" }
        }
        #expect(reason("5,6,6,4").contains("sum to 21 but the model has 22 layers"))
        #expect(reason("5,6,11").contains("3 entries but 4 stages need 4"))
        #expect(reason("5,6,x,5").contains("'x' is not a whole number"))
        #expect(reason("6,6,10,0").contains("at least 1 layer"))
        #expect(reason("5,6,6,5", stages: 2, virtual: 2).isEmpty)
        #expect(reason("11,11", stages: 2, virtual: 2).contains("need 4, one layer count per model chunk"))
    }

    @Test func balancedSplitCountsEmbeddingAndHead() throws {
        // Even split when only layers cost.
        #expect(try StagePartition(layers: 24, stages: 4).layout == "6,6,6,6")
        // A head worth two layers takes layers off the last stage: costs 6, 6, 6, 4 + 2.
        #expect(try StagePartition(layers: 22, stages: 4, headCost: 2).layout == "6,6,6,4")
        // Embedding and head of one layer each: 5 + 1, 6, 6, 5 + 1.
        let partition = try StagePartition(layers: 22, stages: 4, embeddingCost: 1, headCost: 1)
        #expect(partition.layout == "5,6,6,5")
        #expect(partition.chunkCosts(layerCosts: Array(repeating: 1, count: 22), embeddingCost: 1, headCost: 1) == [6, 6, 6, 6])
        // Uneven: 10 layers over 4 stages leaves two stages with 2.
        let uneven = try StagePartition(layers: 10, stages: 4)
        #expect(uneven.layers.map(\.count).sorted() == [2, 2, 3, 3])
        #expect(uneven.layerCount == 10)
        // Heterogeneous layer costs: one expensive layer sits alone.
        #expect(try StagePartition(balancing: [1, 1, 1, 6, 1, 1, 1], stages: 3).layout == "3,1,3")
        // Virtual stages: p·v chunks, chunk c of rank r is model chunk c·p + r.
        let interleaved = try StagePartition(layers: 16, stages: 2, virtualStages: 2)
        #expect(interleaved.layers.count == 4)
        #expect(interleaved.layers(rank: 1, chunk: 1) == 12..<16)
    }

    @Test func impossibleSplitsThrow() {
        #expect(throws: PipelineError.self) { try StagePartition(layers: 3, stages: 4) }
        #expect(throws: PipelineError.self) { try StagePartition(layers: 8, stages: 0) }
        #expect(throws: PipelineError.self) { try StagePartition(layers: 8, stages: 2, virtualStages: 0) }
        #expect(throws: PipelineError.self) { try StagePartition(balancing: [1, -1, 1], stages: 1) }
        do {
            _ = try StagePartition(layers: 6, stages: 4, virtualStages: 2)
            Issue.record("expected an error")
        } catch { #expect("\(error)".contains("use at most 6 stages × virtual stages, not 8")) }
    }
}
