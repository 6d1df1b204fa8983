#ifndef TESSERA_INTRINSICS_H
#define TESSERA_INTRINSICS_H
/* Compiler builtins that Swift has no spelling for. Static inline, so Swift inlines them into its loops. */

/* Asks for the cache line holding p to be loaded into every cache level, for reading. Never faults, so p may
   point past the end of an allocation. */
static inline void tessera_prefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

/* The same, with the line held for writing (PREFETCHW on x86-64), so a later store need not first fetch
   the line for ownership. */
static inline void tessera_prefetch_write(void *p) { __builtin_prefetch(p, 1, 3); }

/* Tells the core that the thread is spinning on a memory location (PAUSE on x86-64, YIELD on arm64), so a
   spin loop wastes less power and lets a sibling hyper-thread run. */
static inline void tessera_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
