import Testing
import TesseraCollectives

@Suite struct DeviceMeshTests {
    /// tp=2, dp=2, pp=2 (8 ranks) worked by hand: rank = tp + 2·dp + 4·pp.
    @Test func handWorkedLayout() throws {
        let mesh = try DeviceMesh(tp: 2, dp: 2, pp: 2)
        #expect(mesh.coordinate(of: 0) == MeshCoordinate(tp: 0, dp: 0, pp: 0))
        #expect(mesh.coordinate(of: 1) == MeshCoordinate(tp: 1, dp: 0, pp: 0))
        #expect(mesh.coordinate(of: 2) == MeshCoordinate(tp: 0, dp: 1, pp: 0))
        #expect(mesh.coordinate(of: 5) == MeshCoordinate(tp: 1, dp: 0, pp: 1))
        #expect(mesh.groupRanks(over: [.tp], containing: 5) == [4, 5])
        #expect(mesh.groupRanks(over: [.dp], containing: 5) == [5, 7])
        #expect(mesh.groupRanks(over: [.pp], containing: 5) == [1, 5])
        #expect(mesh.groupRanks(over: [.tp, .pp], containing: 2) == [2, 3, 6, 7])
        #expect(mesh.embeddingRanks(containing: 6) == [2, 6])
        for rank in 0..<8 { #expect(mesh.rank(at: mesh.coordinate(of: rank)) == rank) }
    }

    @Test func contextAxisSitsBetweenTensorAndData() throws {
        let mesh = try DeviceMesh(tp: 2, cp: 2, dp: 2)
        #expect(mesh.coordinate(of: 2) == MeshCoordinate(tp: 0, cp: 1))
        #expect(mesh.groupRanks(over: [.dp, .cp], containing: 0) == [0, 2, 4, 6])
    }

    @Test func middleStagesHaveNoEmbeddingGroup() throws {
        let mesh = try DeviceMesh(pp: 4)
        #expect(mesh.embeddingRanks(containing: 1) == nil)
        #expect(mesh.embeddingRanks(containing: 3) == [0, 3])
        #expect(try DeviceMesh().embeddingRanks(containing: 0) == [0])
    }

    @Test func sizesThatDoNotFitListLayoutsThatDo() {
        do {
            _ = try DeviceMesh(ranks: 6, tp: 4)
            Issue.record("expected an error")
        } catch let error as MeshError {
            guard case let .sizeMismatch(ranks, _, suggestions) = error else { Issue.record("\(error)"); return }
            #expect(ranks == 6)
            #expect(suggestions.contains("tp=1 cp=1 dp=6 pp=1"))
            #expect(suggestions.contains("tp=2 cp=1 dp=3 pp=1"))
        } catch { Issue.record("\(error)") }
        #expect(throws: MeshError.invalidAxis(axis: .pp, size: 0)) { try DeviceMesh(pp: 0) }
    }
}
