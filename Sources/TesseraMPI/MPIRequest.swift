import CMPI
import TesseraCollectives
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking MPI operation. ``wait()`` polls `MPI_Test` against the communicator's deadline (counted
/// from the call to `wait()`), yielding the core between polls so oversubscribed ranks still progress.
final class MPIRequest: CollectiveRequest, @unchecked Sendable {
    /// What to say when the request does not complete in time.
    enum Expiry {
        /// A collective: the arrival board names the missing ranks.
        case collective(MPICall, sequence: Int)
        /// A message: the peer is the missing rank.
        case message(operation: String, sequence: Int, peer: Int)
    }

    private let communicator: MPICommunicator
    private let expiry: Expiry
    /// For a receive: the byte count the message must have.
    private let expectedBytes: Int?
    /// Work after completion (the division of a mean).
    private let completion: (() -> Void)?
    private let lock = Lock()
    // Guarded by `lock`:
    private var request: MPI_Request?
    private var outcome: Result<Void, CollectiveError>?

    init(communicator: MPICommunicator, request: MPI_Request?, expiry: Expiry, expectedBytes: Int? = nil,
         completion: (() -> Void)? = nil) {
        self.communicator = communicator
        self.request = request
        self.expiry = expiry
        self.expectedBytes = expectedBytes
        self.completion = completion
    }

    func wait() throws {
        let deadline = monotonicNanoseconds() &+ communicator.deadline.nanoseconds
        while true {
            if let outcome = poll() { return try outcome.get() }
            if monotonicNanoseconds() >= deadline { throw expiryError() }
            sched_yield()
        }
    }

    var isComplete: Bool { poll() != nil }

    /// Tests the request once; the outcome once it is complete.
    private func poll() -> Result<Void, CollectiveError>? {
        lock.withLock {
            if let outcome { return outcome }
            var done: Int32 = 0
            var status = MPI_Status()
            let code = MPI_Test(&request, &done, &status)
            if code != tessera_mpi_success() {
                outcome = .failure(error(code: code == MPI_ERR_IN_STATUS ? status.MPI_ERROR : code))
            } else if done != 0 {
                outcome = .success(())
                if let expectedBytes {
                    var received: Int32 = 0
                    MPI_Get_count(&status, tessera_mpi_byte(), &received)
                    if Int(received) != expectedBytes { outcome = .failure(sizeMismatch(sent: "\(received)", expected: expectedBytes)) }
                }
                if case .success = outcome { completion?() }
            }
            return outcome
        }
    }

    private var operation: String {
        switch expiry {
        case let .collective(call, _): return "\(call.kind)"
        case let .message(operation, _, _): return operation
        }
    }

    private func error(code: Int32) -> CollectiveError {
        var errorClass: Int32 = 0
        MPI_Error_class(code, &errorClass)
        if errorClass == MPI_ERR_TRUNCATE, let expectedBytes { return sizeMismatch(sent: "more than \(expectedBytes)", expected: expectedBytes) }
        return .backend(group: communicator.name, operation: operation, detail: mpiErrorString(code))
    }

    private func sizeMismatch(sent: String, expected: Int) -> CollectiveError {
        guard case let .message(operation, sequence, peer) = expiry else {
            return .backend(group: communicator.name, operation: operation, detail: "unexpected message size")
        }
        return .mismatch(group: communicator.name, operation: operation, sequence: sequence,
                         detail: "rank \(peer) sent \(sent) bytes, rank \(communicator.rank) receives into \(expected) bytes")
    }

    private func expiryError() -> CollectiveError {
        switch expiry {
        case let .collective(call, sequence):
            return communicator.arrivals.expiryError(group: communicator.name, call: call, sequence: sequence,
                                                  deadline: communicator.deadline)
        case let .message(operation, sequence, peer):
            return .timeout(group: communicator.name, operation: operation, sequence: sequence,
                            missingRanks: [peer], deadline: communicator.deadline)
        }
    }
}
