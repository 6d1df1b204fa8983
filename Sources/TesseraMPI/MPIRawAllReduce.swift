import CMPI
import TesseraCollectives

/// `MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, comm)` on exactly the `MPI_Comm` under a
/// group of the MPI backend: the call its `allReduce(_:operation: .sum)` makes, without the argument checks,
/// the deadline watchdog and the arrival board.
///
/// For benchmarks that pair the backend with the raw call on the same communicator (so the same collective
/// algorithms and transport). Every rank must make the same raw calls in the same order relative to
/// Tessera's own.
public struct MPIRawAllReduce: @unchecked Sendable {
    private let communicator: MPICommunicator

    /// The raw call on `communicator`, or `nil` when it is not a group of the MPI backend.
    public init?(on communicator: any Communicator) {
        guard let communicator = communicator as? MPICommunicator else { return nil }
        self.communicator = communicator
    }

    /// Sums `buffer` over the group in place.
    /// - Throws: ``CollectiveError/invalidArgument(group:operation:detail:)`` past MPI's 32-bit count;
    ///   ``CollectiveError/backend(group:operation:detail:)`` with MPI's error string.
    public func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let group = communicator.name, operation = "raw MPI_Allreduce"
        let count = try mpiCount(buffer.count, group: group, operation: operation)
        try mpiCheck(MPI_Allreduce(tessera_mpi_in_place(), buffer.baseAddress, count, tessera_mpi_float(), tessera_mpi_sum(),
                                   communicator.comm), group: group, operation: operation)
    }
}
