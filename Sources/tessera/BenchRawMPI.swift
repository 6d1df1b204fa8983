import CMPI
import TesseraCollectives
import TesseraBench

/// Raw `MPI_Allreduce` on the MPI backend's own communicator: the peer `tessera bench collectives` times
/// alternately with the backend's all-reduce. It lives in the CLI, the one target that links MPI directly.
enum RawMPIInPlaceSum {
    /// `MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, comm)`: the call the MPI backend's
    /// `allReduce(_:operation: .sum)` makes, without its argument checks and deadline bookkeeping.
    static func run(_ buffer: UnsafeMutableBufferPointer<Float>, on comm: MPI_Comm, group: String) throws {
        guard let count = Int32(exactly: buffer.count) else {
            throw CollectiveError.invalidArgument(group: group, operation: "raw MPI_Allreduce",
                                                  detail: "\(buffer.count) floats exceed MPI's 32-bit count; use smaller --sizes")
        }
        let code = MPI_Allreduce(tessera_mpi_in_place(), buffer.baseAddress, count, tessera_mpi_float(), tessera_mpi_sum(), comm)
        guard code == tessera_mpi_success() else {
            throw CollectiveError.backend(group: group, operation: "raw MPI_Allreduce", detail: "MPI error code \(code)")
        }
    }

    /// The paired peer for `world`: raw `MPI_Allreduce` where `world` is an MPI communicator, nil otherwise.
    static func peer(for world: any Communicator) -> CollectiveTiming.AllReducePeer? {
        guard let comm = MPIEnvironment.handle(of: world) else { return nil }
        return { try run($0, on: comm, group: world.name) }
    }
}
