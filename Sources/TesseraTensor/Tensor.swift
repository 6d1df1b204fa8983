/// A dense Float32 tensor: a shape and its elements in row-major order.
///
/// `Tensor` is a value type (copy-on-write through its array); pass it freely between ranks.
/// Hot loops work on its buffer through ``withUnsafeBufferPointer(_:)`` and
/// ``withUnsafeMutableBufferPointer(_:)`` and the pointer-level ``Kernels``.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    /// Dimensions, outermost first. A scalar has shape `[]` and one element.
    public private(set) var shape: [Int]
    /// Elements in row-major order; `scalars.count == shape.reduce(1, *)` always holds.
    public private(set) var scalars: [Float]

    /// Creates a tensor from elements in row-major order.
    /// - Throws: ``TensorError/countMismatch(operation:expected:actual:)`` when the count does not match the shape,
    ///   ``TensorError/invalidShape(operation:shape:reason:)`` for a negative dimension.
    public init(shape: [Int], scalars: [Float]) throws {
        let count = try Tensor.elementCount(of: shape, operation: "Tensor(shape:scalars:)")
        guard scalars.count == count else {
            throw TensorError.countMismatch(operation: "Tensor(shape:scalars:)", expected: count, actual: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor of the given shape filled with `value` (zeros by default).
    /// - Precondition: every dimension is non-negative (a programming error otherwise).
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Number of elements.
    public var count: Int { scalars.count }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count.
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        let count = try Tensor.elementCount(of: newShape, operation: "reshaped(to:)")
        guard count == self.count else {
            throw TensorError.shapeMismatch(operation: "reshaped(to:)", expected: shape, actual: newShape)
        }
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// Throws unless this tensor has exactly `expected` shape.
    public func checkShape(_ expected: [Int], _ operation: String) throws {
        guard shape == expected else {
            throw TensorError.shapeMismatch(operation: operation, expected: expected, actual: shape)
        }
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// Element at a row-major flat index.
    public subscript(flat index: Int) -> Float {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    public var description: String {
        let preview = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(preview)\(count > 8 ? ", …" : "")])"
    }

    static func elementCount(of shape: [Int], operation: String) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidShape(operation: operation, shape: shape, reason: "dimensions must be non-negative")
        }
        return shape.reduce(1, *)
    }
}
