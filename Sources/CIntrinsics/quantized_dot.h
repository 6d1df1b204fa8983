#ifndef TESSERA_QUANTIZED_DOT_H
#define TESSERA_QUANTIZED_DOT_H
/* Weight rows times activation rows for every weight type, on a range of weight rows: the inner loop of
   QuantizedMatrix's products. The vector paths run only where the CPU reports their instructions (AVX2 and FMA,
   every such CPU also having F16C; AVX-512 VNNI for Q8_0, Q4_0 and Q4_1); elsewhere, and on other architectures,
   the portable path runs. */
#include <stddef.h>
#include <stdlib.h>
#include "quantized_common.h"
#include "quantized_portable.h"
#include "quantized_avx2.h"
#include "quantized_vnni.h"
#include "quantized_interleave.h"

/* Whether the AVX2 path can run on this CPU (false on other architectures). */
static inline int tq_has_avx2(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* Whether the AVX-512 VNNI path can run on this CPU (false on other architectures). */
static inline int tq_has_avx512_vnni(void) {
#if defined(__x86_64__)
    return tq_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

/* The kernel paths, as `path` of tq_rows takes them. */
enum { TQ_PATH_PORTABLE = 0, TQ_PATH_AVX2 = 1, TQ_PATH_AVX512_VNNI = 2 };

/* y[t ldy + r] = Σ_i W[r, i] X[t, i] for weight rows r in [rowBegin, rowEnd) and activation rows t in [0, xRows).
   w: the weight matrix, `rowBytes` per row; x: activation rows `xRowBytes` apart, as Float32 for F32, F16 and BF16
   weights, as tq_q8_32 blocks for Q8_0, Q4_0, Q4_1 and Q5_0, as tq_q8_256 blocks for Q4_K and Q6_K; n: the row length
   (whole blocks of the type). `path` selects the kernels (TQ_PATH_*) and must name one this CPU runs: AVX-512
   VNNI computes Q8_0, Q4_0 and Q4_1 (quantized_vnni.h) and leaves the other types to AVX2.
   Weight rows are taken a tile at a time (TQ_TILE_BYTES, a share of L2) and every activation row passes over the
   tile, so with many activation rows the weights come from cache and the outputs are written in runs; each
   output is still one dot product, so its value does not depend on the other rows. */
#define TQ_TILE_BYTES (256 * 1024)
#define TQ_ROWS(dot, xType)                                                                                   \
    for (int first = rowBegin; first < rowEnd; first += tileRows) {                                          \
        int last = first + tileRows < rowEnd ? first + tileRows : rowEnd;                                     \
        for (int t = 0; t < xRows; t++) {                                                                     \
            const xType *xt = (const xType *)(x + (size_t)t * xRowBytes);                                     \
            for (int r = first; r < last; r++) y[(size_t)t * ldy + r] = dot(w + (size_t)r * rowBytes, xt, n); \
        }                                                                                                     \
    }                                                                                                         \
    return;

#define TQ_DISPATCH(suffix)                                                              \
    switch (type) {                                                                      \
    case TQ_F32: TQ_ROWS(tq_dot_f32_##suffix, float)                                     \
    case TQ_F16: TQ_ROWS(tq_dot_f16_##suffix, float)                                     \
    case TQ_BF16: TQ_ROWS(tq_dot_bf16_##suffix, float)                                   \
    case TQ_Q8_0: TQ_ROWS(tq_dot_q8_0_##suffix, tq_q8_32)                                \
    case TQ_Q4_0: TQ_ROWS(tq_dot_q4_0_##suffix, tq_q8_32)                                \
    case TQ_Q4_1: TQ_ROWS(tq_dot_q4_1_##suffix, tq_q8_32)                                \
    case TQ_Q5_0: TQ_ROWS(tq_dot_q5_0_##suffix, tq_q8_32)                                \
    case TQ_Q4_K: TQ_ROWS(tq_dot_q4_k_##suffix, tq_q8_256)                               \
    case TQ_Q6_K: TQ_ROWS(tq_dot_q6_k_##suffix, tq_q8_256)                               \
    default: return;                                                                     \
    }

/* TQ_ROWS with `dot4` (four activation rows per weight row, each output as `dot` computes it) over groups of four
   activation rows, `dot` for the rest. */
#define TQ_ROWS4(dot, dot4, xType)                                                                           \
    for (int first = rowBegin; first < rowEnd; first += tileRows) {                                          \
        int last = first + tileRows < rowEnd ? first + tileRows : rowEnd, t = 0;                              \
        for (; t + 4 <= xRows; t += 4) {                                                                      \
            const xType *xs[4];                                                                               \
            for (int k = 0; k < 4; k++) xs[k] = (const xType *)(x + (size_t)(t + k) * xRowBytes);             \
            for (int r = first; r < last; r++) {                                                              \
                float out[4];                                                                                 \
                dot4(w + (size_t)r * rowBytes, xs, n, out);                                                   \
                for (int k = 0; k < 4; k++) y[(size_t)(t + k) * ldy + r] = out[k];                            \
            }                                                                                                 \
        }                                                                                                     \
        for (; t < xRows; t++) {                                                                              \
            const xType *xt = (const xType *)(x + (size_t)t * xRowBytes);                                     \
            for (int r = first; r < last; r++) y[(size_t)t * ldy + r] = dot(w + (size_t)r * rowBytes, xt, n); \
        }                                                                                                     \
    }                                                                                                         \
    return;

#if defined(__x86_64__)
TQ_AVX2 static void tq_rows_avx2(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd,
                                 const uint8_t *x, size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    int tileRows = rowBytes < TQ_TILE_BYTES ? (int)(TQ_TILE_BYTES / rowBytes) : 1;
    switch (type) {
    case TQ_Q8_0: TQ_ROWS4(tq_dot_q8_0_avx2, tq_dot4_q8_0_avx2, tq_q8_32)
    case TQ_Q4_0: TQ_ROWS4(tq_dot_q4_0_avx2, tq_dot4_q4_0_avx2, tq_q8_32)
    case TQ_Q4_1: TQ_ROWS4(tq_dot_q4_1_avx2, tq_dot4_q4_1_avx2, tq_q8_32)
    default: TQ_DISPATCH(avx2)
    }
}
#endif

static void tq_rows_portable(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd,
                             const uint8_t *x, size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    int tileRows = rowBytes < TQ_TILE_BYTES ? (int)(TQ_TILE_BYTES / rowBytes) : 1;
    TQ_DISPATCH(portable)
}

static inline void tq_rows(int type, const void *w, size_t rowBytes, int rowBegin, int rowEnd, const void *x,
                           size_t xRowBytes, int xRows, int n, float *y, size_t ldy, int path) {
#if defined(__x86_64__)
    if (path == TQ_PATH_AVX512_VNNI && tq_rows_vnni(type, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy, 0)) return;
    if (path != TQ_PATH_PORTABLE) return tq_rows_avx2(type, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy);
#endif
    (void)path;
    tq_rows_portable(type, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy);
}

/* tq_rows on an interleaved matrix (quantized_interleave.h; rows [rowBegin, rowEnd) of the matrix at `w`), with the
   same values: the AVX-512 VNNI path reads the interleaved blocks directly; the others put each group's rows back in
   row-major order in a buffer of sixteen rows and run tq_rows on them. */
static inline void tq_rows_interleaved(int type, const void *w, size_t rowBytes, int rowBegin, int rowEnd, const void *x,
                                       size_t xRowBytes, int xRows, int n, float *y, size_t ldy, int path) {
#if defined(__x86_64__)
    if (path == TQ_PATH_AVX512_VNNI &&
        tq_rows_vnni(type, (const uint8_t *)w, rowBytes, rowBegin, rowEnd, (const uint8_t *)x, xRowBytes, xRows, n, y, ldy, 1))
        return;
#endif
    uint8_t *rows = (uint8_t *)malloc(16 * rowBytes);
    if (rows == NULL) abort(); /* sixteen weight rows */
    for (int first = rowBegin; first < rowEnd;) {
        int end = (first / 16 + 1) * 16 < rowEnd ? (first / 16 + 1) * 16 : rowEnd;
        tq_deinterleave(type, w, rowBytes, first, end, rows);
        tq_rows(type, rows, rowBytes, 0, end - first, x, xRowBytes, xRows, n, y + first, ldy, path);
        first = end;
    }
    free(rows);
}

/* Quantizes `rows` activation rows of n floats (`ldx` apart) into tq_q8_32 (block 32) or tq_q8_256 (block 256)
   rows of `xRowBytes`; the same bits on every CPU. */
static inline void tq_quantize_rows(const float *x, size_t ldx, int rows, int n, int block, void *out, size_t xRowBytes) {
#if defined(__x86_64__)
    int vector = block == 32 && tq_has_avx512_vnni();
#else
    int vector = 0;
#endif
    for (int t = 0; t < rows; t++) {
        uint8_t *row = (uint8_t *)out + (size_t)t * xRowBytes;
        if (block == 256) tq_quantize_q8_256(x + (size_t)t * ldx, n, (tq_q8_256 *)row);
#if defined(__x86_64__)
        else if (vector) tq_quantize_q8_32_avx512(x + (size_t)t * ldx, n, (tq_q8_32 *)row);
#endif
        else tq_quantize_q8_32(x + (size_t)t * ldx, n, (tq_q8_32 *)row);
    }
}
#endif
