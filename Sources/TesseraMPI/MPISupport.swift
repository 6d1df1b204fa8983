import CMPI
import TesseraCollectives

/// Open MPI's error text for `code`, e.g. "MPI_ERR_TRUNCATE: message truncated (MPI error 15)".
func mpiErrorString(_ code: Int32) -> String {
    var text = [CChar](repeating: 0, count: Int(tessera_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &text, &length)
    return "\(String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)) (MPI error \(code))"
}

/// Throws ``CollectiveError/backend(group:operation:detail:)`` with MPI's error string unless `code` is
/// `MPI_SUCCESS` (communicators use `MPI_ERRORS_RETURN`, so errors come back as codes).
@inline(__always)
func mpiCheck(_ code: Int32, group: @autoclosure () -> String, operation: @autoclosure () -> String) throws {
    guard code != tessera_mpi_success() else { return }
    throw CollectiveError.backend(group: group(), operation: operation(), detail: mpiErrorString(code))
}

extension ReduceOperation {
    /// The MPI operation; `mean` is a sum divided by the group size afterwards.
    var mpiOperation: MPI_Op {
        switch self {
        case .sum, .mean: return tessera_mpi_sum()
        case .max: return tessera_mpi_max()
        }
    }
}

/// MPI counts are 32-bit: the element count of a buffer, or an invalid-argument error naming the limit.
func mpiCount(_ count: Int, group: String, operation: String) throws -> Int32 {
    guard let count = Int32(exactly: count) else {
        throw CollectiveError.invalidArgument(
            group: group, operation: operation,
            detail: "\(count) elements exceed MPI's 32-bit count limit (\(Int32.max)); split the buffer")
    }
    return count
}

/// What a rank is doing at a sequence number, as recorded on the arrival board (see ``MPIArrivalBoard``).
struct MPICall: Equatable {
    enum Kind: Int64, CaseIterable {
        case allReduce = 1, allGather, reduceScatter, broadcast, allToAll, barrier, split, finalize
    }
    var kind: Kind
    /// Bytes that all ranks must agree on (0 where they may differ).
    var byteCount: Int
    /// One small argument that must agree: the reduce operation index or the broadcast root.
    var argument: Int = 0

    var summary: String {
        switch kind {
        case .allReduce, .reduceScatter:
            return "\(kind)(\(ReduceOperation.allCases[argument].rawValue)) of \(byteCount) bytes"
        case .broadcast: return "broadcast(root: \(argument)) of \(byteCount) bytes"
        case .allGather: return "allGather of \(byteCount) bytes"
        case .allToAll, .barrier, .split, .finalize: return "\(kind)"
        }
    }
}
