import TesseraBench
import TesseraCollectives
import TesseraMPI

/// Raw `MPI_Allreduce` on the MPI backend's own communicator (``MPIRawAllReduce``): the peer
/// `tessera bench collectives` times alternately with the backend's all-reduce.
enum RawMPIInPlaceSum {
    /// The paired peer for `world`: raw `MPI_Allreduce` where `world` is an MPI communicator, nil otherwise.
    static func peer(for world: any Communicator) -> CollectiveTiming.AllReducePeer? {
        guard let raw = MPIRawAllReduce(on: world) else { return nil }
        return { try raw.sum($0) }
    }
}
