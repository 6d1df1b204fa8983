import Foundation

/// One model's weight copies (the interleaved matrices a loader makes) packed into large regions of memory instead of
/// one allocation each: regions of ``regionBytes`` aligned to 2 MiB and, on Linux, advised to be backed by transparent
/// huge pages where the system allows them (`/sys/kernel/mm/transparent_hugepage/enabled` set to `madvise` or
/// `always`; elsewhere the advice does nothing). A decode step streams every weight once; with 2 MiB pages that stream
/// misses the TLB 512 times less often, and the hardware prefetchers, which stop at 4 KiB page boundaries, run on
/// (C microbenchmark of the interleaved products, SmolLM2's five Q4_1 shapes × 30 copies, 71 MB, one core of this
/// project's 2-core AMD EPYC, Zen 4: one activation row 3.1 → 2.3 ms, eight rows 6.4 → 6.1 ms). A matrix placed here
/// keeps the arena alive; the regions are freed with the last of them.
public final class WeightArena: @unchecked Sendable {
    /// Bytes of one region (32 MiB unless given); a larger request gets a region of its own.
    public let regionBytes: Int
    static let hugePageBytes = 2 << 20

    private let lock = NSLock()
    private var regions: [UnsafeMutableRawPointer] = []
    private var next: UnsafeMutableRawPointer?
    private var left = 0

    public init(regionBytes: Int = 32 << 20) { self.regionBytes = max(64, regionBytes) }

    deinit { regions.forEach { $0.deallocate() } }

    /// `byteCount` bytes aligned to 64, valid as long as the arena lives.
    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = (max(1, byteCount) + 63) & ~63
        lock.lock()
        defer { lock.unlock() }
        if size > left {
            let regionBytes = max(self.regionBytes, size)
            let region = Self.allocateRegion(byteCount: regionBytes)
            regions.append(region)
            (next, left) = (region, regionBytes)
        }
        let memory = next!
        (next, left) = (memory + size, left - size)
        return memory
    }

    /// `byteCount` bytes (at least 1) aligned to 2 MiB and advised onto huge pages when they span one, not
    /// initialized; release with `deallocate()`. For any large buffer a kernel streams through (the key/value pool).
    package static func allocateRegion(byteCount: Int) -> UnsafeMutableRawPointer {
        let region = UnsafeMutableRawPointer.allocate(byteCount: max(1, byteCount), alignment: hugePageBytes)
        #if canImport(Glibc)
        if byteCount >= hugePageBytes { _ = madvise(region, byteCount, MADV_HUGEPAGE) }
        #endif
        return region
    }
}
