import TesseraTensor

/// Whether a backward pass also computes weight gradients or leaves them for later.
///
/// Zero-bubble pipeline schedules split backward into B (input gradients, on the critical path) and W
/// (weight gradients, filling bubbles). `.full` does both; `.inputOnly` records the weight-gradient
/// products in a ``WeightGradientQueue`` that ``WeightGradientQueue/run()`` executes later.
public enum BackwardMode: Sendable, Hashable {
    case full
    case inputOnly
}

/// One deferred weight-gradient product: `gradient += op(a) · op(b)` (a GEMM with `beta = 1`), or a bias
/// gradient (column sums).
///
/// The pointers refer to buffers of one micro-batch's state; the task is valid while that state is
/// alive and its backward buffers untouched.
public struct WeightGradientTask: @unchecked Sendable {
    enum Work {
        case product(a: UnsafePointer<Float>, transposeA: Bool, lda: Int, b: UnsafePointer<Float>, transposeB: Bool, ldb: Int,
                     into: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int)
        case columnSums(UnsafePointer<Float>, rows: Int, columns: Int, stride: Int, into: UnsafeMutablePointer<Float>)
    }

    let work: Work
    /// Where the product runs.
    let backend: any ComputeBackend

    /// Runs the product, accumulating into the gradient.
    public func run() {
        switch work {
        case let .product(a, transposeA, lda, b, transposeB, ldb, c, ldc, m, n, k):
            backend.matmul(a, transposeA: transposeA, lda: lda, b, transposeB: transposeB, ldb: ldb,
                           into: c, ldc: ldc, m: m, n: n, k: k, alpha: 1, beta: 1)
        case let .columnSums(dy, rows, columns, stride, into):
            backend.biasBackward(dy, ld: stride, rows: rows, columns: columns, accumulatingInto: into)
        }
    }
}

/// Weight-gradient work deferred by a `.inputOnly` backward, in the order it was recorded.
public final class WeightGradientQueue: @unchecked Sendable {
    public private(set) var tasks: [WeightGradientTask] = []

    public init() {}

    /// Runs `task` now (`.full`) or records it (`.inputOnly`).
    public func submit(_ task: WeightGradientTask, mode: BackwardMode) {
        switch mode {
        case .full: task.run()
        case .inputOnly: tasks.append(task)
        }
    }

    /// Runs and clears every recorded task.
    public func run() {
        for task in tasks { task.run() }
        tasks.removeAll(keepingCapacity: true)
    }

    /// Whether work is waiting.
    public var isEmpty: Bool { tasks.isEmpty }
}
