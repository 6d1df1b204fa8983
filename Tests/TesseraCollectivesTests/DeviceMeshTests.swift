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

    /// tp=2, cp=2, dp=2, ep=2 (8 ranks) worked by hand: `j = cp + 2·dp` numbers the dp × cp ranks of one tp
    /// position; expert groups are blocks of two consecutive `j`, expert-data groups share `j mod 2`.
    @Test func expertGroupsAreCarvedOutOfDataAndContext() throws {
        let mesh = try DeviceMesh(tp: 2, cp: 2, dp: 2, ep: 2)
        #expect(mesh.size == 8)
        #expect(mesh.expertGroupRanks(containing: 0) == [0, 2])
        #expect(mesh.expertDataGroupRanks(containing: 0) == [0, 4])
        #expect(mesh.expertGroupRanks(containing: 7) == [5, 7])
        #expect(mesh.expertDataGroupRanks(containing: 7) == [3, 7])
        #expect((0..<8).map(mesh.expertRank(of:)) == [0, 0, 1, 1, 0, 0, 1, 1])
        #expect((0..<8).map(mesh.expertDataRank(of:)) == [0, 0, 0, 0, 1, 1, 1, 1])
        // Every rank's expert group and expert-data group meet in exactly that rank, and together they tile dp × cp.
        for rank in 0..<8 {
            let expert = Set(mesh.expertGroupRanks(containing: rank)), data = Set(mesh.expertDataGroupRanks(containing: rank))
            #expect(expert.intersection(data) == [rank])
            #expect(expert.count * data.count == mesh.groupRanks(over: [.dp, .cp], containing: rank).count)
        }
        // With ep = 1 every rank holds all experts: the expert group is the rank alone, expert-data is dp × cp.
        let plain = try DeviceMesh(tp: 2, dp: 2)
        #expect(plain.expertGroupRanks(containing: 1) == [1])
        #expect(plain.expertDataGroupRanks(containing: 1) == plain.groupRanks(over: [.dp, .cp], containing: 1))
    }

    @Test func expertParallelismMustDivideDataTimesContext() {
        #expect(throws: MeshError.expertParallel(ep: 2, dataContext: 3, valid: [1, 3])) { try DeviceMesh(dp: 3, ep: 2) }
        #expect(throws: MeshError.expertParallel(ep: 0, dataContext: 1, valid: [1])) { try DeviceMesh(ep: 0) }
        #expect("\(MeshError.expertParallel(ep: 2, dataContext: 3, valid: [1, 3]))".contains("ep ∈ {1, 3}"))
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
