import CMPI

extension MPIEnvironment {
    /// The `MPI_Comm` under `communicator` when it is a group of the MPI backend, else `nil`.
    ///
    /// For benchmarks that time a raw MPI call on exactly the communicator Tessera uses (so the same
    /// collective algorithms and transport). A raw call bypasses the deadline watchdog and the arrival
    /// board: every rank must make the same raw calls in the same order relative to Tessera's own.
    public static func handle(of communicator: any Communicator) -> MPI_Comm? {
        (communicator as? MPICommunicator)?.comm
    }
}
