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
        func group(_ axes: Set<MeshAxis>, _ label: String) throws -> any Communicator {
            let name = "\(label)[\(c)]"
            guard let comm = try world.split(color: mesh.groupColor(over: axes, of: rank), key: rank, name: name) else {
                throw CollectiveError.invalidArgument(group: world.name, operation: "split", detail: "no group for \(name)")
            }
            return comm
        }
        self.tensor = try group([.tp], "tp")
        self.context = try group([.cp], "cp")
        self.data = try group([.dp], "dp")
        self.pipeline = try group([.pp], "pp")
        self.dataContext = try group([.dp, .cp], "dp×cp")
        self.modelParallel = try group([.tp, .pp], "tp×pp")
        let embeddingRanks = mesh.embeddingRanks(containing: rank)
        self.embedding = try world.split(
            color: embeddingRanks.map { $0[0] } ?? -1, key: rank, name: "embedding[\(c)]")
    }

    /// Whether this rank runs the first pipeline stage.
    public var isFirstStage: Bool { coordinate.pp == 0 }
    /// Whether this rank runs the last pipeline stage.
    public var isLastStage: Bool { coordinate.pp == mesh.pp - 1 }
}
