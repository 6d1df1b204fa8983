/// The communicators one rank needs, one per mesh axis plus the combined groups training uses.
///
/// Built collectively: every rank of `world` constructs its `ProcessGroups` with the same mesh, and
/// each group is a ``Communicator/split(color:key:name:)`` of `world`. Layers receive the groups they
/// need in their initializers; nothing here is global.
public final class ProcessGroups: Sendable {
    public let mesh: DeviceMesh
    /// This rank's position on the mesh.
    public let coordinate: MeshCoordinate
    public let world: any Communicator
    /// Tensor-parallel group (ranks differing only in tp).
    public let tensor: any Communicator
    /// Context-parallel group.
    public let context: any Communicator
    /// Data-parallel group.
    public let data: any Communicator
    /// Pipeline group (ranks differing only in pp); its rank is the pipeline stage.
    public let pipeline: any Communicator
    /// Expert-parallel group: ranks carved out of dp × cp that hold different experts (``DeviceMesh/expertGroupRanks(containing:)``).
    public let expert: any Communicator
    /// Expert-data-parallel group: ranks that hold the same experts; expert weights' gradients are reduced over it.
    public let expertData: any Communicator
    /// dp × cp: the group over which gradients of replicated weights are averaged.
    public let dataContext: any Communicator
    /// tp × pp: the ranks that together hold one full copy of the model (for global norms).
    public let modelParallel: any Communicator
    /// First and last pipeline stage (tied embeddings); `nil` on middle stages.
    public let embedding: (any Communicator)?

    /// - Throws: ``MeshError`` when the mesh does not use exactly `world.size` ranks;
    ///   ``CollectiveError`` when a split fails.
    public init(world: any Communicator, mesh: DeviceMesh) throws {
        guard mesh.size == world.size else {
            throw MeshError.sizeMismatch(ranks: world.size, requested: mesh.description,
                                         suggestions: DeviceMesh.suggestions(ranks: world.size, near: mesh))
        }
        self.mesh = mesh
        self.world = world
        let rank = world.rank
        let c = mesh.coordinate(of: rank)
        self.coordinate = c
        // Members of a group share a colour: the group's lowest rank for the expert groups, the mesh's colour otherwise.
        func split(color: Int, _ label: String) throws -> any Communicator {
            let name = "\(label)[\(c)]"
            guard let comm = try world.split(color: color, key: rank, name: name) else {
                throw CollectiveError.invalidArgument(group: world.name, operation: "split", detail: "no group for \(name)")
            }
            return comm
        }
        func group(_ axes: Set<MeshAxis>, _ label: String) throws -> any Communicator {
            try split(color: mesh.groupColor(over: axes, of: rank), label)
        }
        self.tensor = try group([.tp], "tp")
        self.context = try group([.cp], "cp")
        self.data = try group([.dp], "dp")
        self.pipeline = try group([.pp], "pp")
        self.dataContext = try group([.dp, .cp], "dp×cp")
        self.modelParallel = try group([.tp, .pp], "tp×pp")
        self.expert = try split(color: mesh.expertGroupRanks(containing: rank)[0], "ep")
        self.expertData = try split(color: mesh.expertDataGroupRanks(containing: rank)[0], "ep-dp")
        let embeddingRanks = mesh.embeddingRanks(containing: rank)
        self.embedding = try world.split(
            color: embeddingRanks.map { $0[0] } ?? -1, key: rank, name: "embedding[\(c)]")
    }

    /// Whether this rank runs the first pipeline stage.
    public var isFirstStage: Bool { coordinate.pp == 0 }
    /// Whether this rank runs the last pipeline stage.
    public var isLastStage: Bool { coordinate.pp == mesh.pp - 1 }
}
