/// Pointer access and shape helpers shared by the `Tensor`-level kernel wrappers.
extension Tensor {
    /// Calls `body` with a pointer to the elements (a never-dereferenced placeholder when empty).
    @inline(__always)
    func withBase<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress ?? Tensor.emptyBase) }
    }

    /// Calls `body` with a mutable pointer to the elements (a never-dereferenced placeholder when empty).
    @inline(__always)
    mutating func withMutableBase<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeMutableBufferPointer { try body($0.baseAddress ?? UnsafeMutablePointer(mutating: Tensor.emptyBase)) }
    }

    /// Stands in for the base of an empty buffer; kernels read no element when the count is 0.
    private static var emptyBase: UnsafePointer<Float> { UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)! }

    /// The tensor as `[rows, columns]` rows of its last dimension.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` for a scalar.
    func rowsAndColumns(_ operation: String) throws -> (rows: Int, columns: Int) {
        guard let columns = shape.last else {
            throw TensorError.invalidShape(operation: operation, shape: shape, reason: "needs at least one dimension")
        }
        return (columns == 0 ? 0 : count / columns, columns)
    }

    /// Throws unless `operand` has shape `expected`; the error names this tensor's shape and the operand's.
    func checkOperand(_ operand: Tensor, named name: String, expected: [Int], _ operation: String) throws {
        guard operand.shape == expected else {
            throw TensorError.incompatibleShapes(
                operation: operation, first: shape, second: operand.shape, reason: "\(name) must be \(expected)")
        }
    }

    /// Throws unless every id lies in `0..<bound`.
    static func checkIndices(_ ids: [Int32], bound: Int, _ operation: String) throws {
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= bound }) {
            throw TensorError.indexOutOfRange(operation: operation, index: Int(bad), bound: bound)
        }
    }
}
