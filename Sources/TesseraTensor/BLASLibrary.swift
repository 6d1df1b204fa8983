import CBLAS

/// What the linked OpenBLAS is: its build and the kernel family it chose for this CPU. Results of `sgemm` may
/// depend on the kernel (each kernel sums a dot product in its own order), so tests that rely on one kernel's
/// order name it.
public enum BLASLibrary {
    /// The kernel family OpenBLAS selected at load time, e.g. "Zen", "Haswell", "SkylakeX" (`openblas_get_corename`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }
}
