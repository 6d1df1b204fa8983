/// Owned, 64-byte aligned Float32 storage for the hot path: activations, gradients and parameters.
///
/// A class (not an array) so that layers and per-micro-batch states can hold and reuse buffers without
/// copy-on-write checks or exclusivity traps in inner loops. A buffer belongs to one rank's thread;
/// it is `@unchecked Sendable` only so that a rank's objects can be created on one thread and handed to
/// the rank thread that then owns them.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of valid elements.
    public private(set) var count: Int
    /// Start of the storage; valid for `capacity` elements until the next ``reserve(_:)`` that grows it.
    public private(set) var pointer: UnsafeMutablePointer<Float>
    /// Allocated elements (at least `count`).
    public private(set) var capacity: Int

    /// A buffer of `count` elements, all `value` (zero by default).
    public init(count: Int, repeating value: Float = 0) {
        precondition(count >= 0, "negative buffer size \(count)")
        self.count = count
        self.capacity = max(count, 1)
        self.pointer = FloatBuffer.allocate(capacity)
        pointer.initialize(repeating: value, count: capacity)
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    /// Sets the element count to `count`, growing the storage when needed. Grown storage is zeroed;
    /// the old contents are not preserved when it grows.
    public func reserve(_ count: Int) {
        precondition(count >= 0, "negative buffer size \(count)")
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = FloatBuffer.allocate(capacity)
            pointer.initialize(repeating: 0, count: capacity)
        }
        self.count = count
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// The elements as a read-only buffer.
    public var elements: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }

    /// The elements as a mutable buffer.
    public var mutableElements: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// A copy of the elements.
    public var array: [Float] { Array(elements) }

    /// Bytes of storage held.
    public var byteCount: Int { capacity * MemoryLayout<Float>.stride }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }
}
