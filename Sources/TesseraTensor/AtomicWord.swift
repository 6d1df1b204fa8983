#if os(Linux)
import Synchronization
#else
import Foundation
#endif

/// A 64-bit word read and written atomically: Swift's `Atomic` on Linux; elsewhere a lock, since
/// `Atomic` needs macOS 15 and the package supports macOS 14. Shared by the compute pool and the collectives.
package final class AtomicWord: @unchecked Sendable {
    #if os(Linux)
    private let value: Atomic<UInt64>
    package init(_ initial: UInt64 = 0) { value = Atomic(initial) }
    @inline(__always) package func load() -> UInt64 { value.load(ordering: .acquiring) }
    @inline(__always) package func store(_ newValue: UInt64) { value.store(newValue, ordering: .releasing) }
    /// Adds `delta` and returns the value before.
    @inline(__always) package func add(_ delta: UInt64) -> UInt64 { value.wrappingAdd(delta, ordering: .acquiringAndReleasing).oldValue }
    #else
    private let lock = NSLock()
    private var value: UInt64
    package init(_ initial: UInt64 = 0) { value = initial }
    package func load() -> UInt64 { lock.withLock { value } }
    package func store(_ newValue: UInt64) { lock.withLock { value = newValue } }
    package func add(_ delta: UInt64) -> UInt64 { lock.withLock { defer { value &+= delta }; return value } }
    #endif
}
