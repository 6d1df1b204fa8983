/// Pointer-level compute kernels on Float32 buffers, row-major.
///
/// Contract for every kernel in this namespace: callers pass buffers of at least the documented sizes
/// and shapes that agree; nothing is checked here (these sit in the hot loop). Shape checking with
/// typed errors lives in the `Tensor`-level wrappers. Output buffers may not alias inputs unless a
/// kernel says so. "accumulating" parameters are added to (`+=`), all other outputs are overwritten.
public enum Kernels {}
