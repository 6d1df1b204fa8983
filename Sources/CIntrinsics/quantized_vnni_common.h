#ifndef TESSERA_QUANTIZED_VNNI_COMMON_H
#define TESSERA_QUANTIZED_VNNI_COMMON_H
/* What the AVX-512 VNNI kernels of quantized_vnni_row.h and quantized_vnni_batch.h share: the target attribute, the block
   geometry, the reduction of four registers of partial sums, and the fold of one block into every lane. */
#if defined(__x86_64__)
#include <immintrin.h>
#include "quantized_common.h"

#define TQ_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"), always_inline))

/* Bytes of a block and the offset of its quantized values, per type. */
#define TQ_VNNI_BLOCK_BYTES(type) ((type) == TQ_Q8_0 ? 34 : (type) == TQ_Q4_0 ? 18 : 20)
#define TQ_VNNI_QUANTS(type) ((type) == TQ_Q4_1 ? 4 : 2)

/* The body of a tq_rows-shaped entry point (parameters type, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n,
   y, ldy): `kernel` compiled for each type with a VNNI kernel, its type a constant, returning 1; 0 for the others. */
#define TQ_VNNI_BY_TYPE(kernel)                                                                              \
    switch (type) {                                                                                          \
    case TQ_Q8_0: kernel(TQ_Q8_0, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1; \
    case TQ_Q4_0: kernel(TQ_Q4_0, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1; \
    case TQ_Q4_1: kernel(TQ_Q4_1, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1; \
    default: return 0;                                                                                       \
    }

/* Lane 4c + u = the sum of the four lanes of chunk c of unit u. */
TQ_VNNI static inline __m512i tq_vnni_reduce(__m512i u0, __m512i u1, __m512i u2, __m512i u3) {
    __m512i p = _mm512_add_epi32(_mm512_unpacklo_epi32(u0, u1), _mm512_unpackhi_epi32(u0, u1));
    __m512i q = _mm512_add_epi32(_mm512_unpacklo_epi32(u2, u3), _mm512_unpackhi_epi32(u2, u3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(p, q), _mm512_unpackhi_epi64(p, q));
}

/* Per block, the activation side of a fold in every lane: the scale, and either d_x (float)Σq_x (Q4_1's minimum
   term) or the integer offset 128 Σq_x (Q8_0) or 8 Σq_x (Q4_0) as int32. */
typedef struct { __m512 dx; __m512 term; } tq_vnni_xlanes;

/* One block's fold into every lane, given each lane's weight scale `d` (and minimum `m` for Q4_1). */
TQ_VNNI static inline __m512 tq_vnni_fold(int type, __m512 acc, __m512i sums, __m512 d, __m512 m, tq_vnni_xlanes x) {
    __m512 scale = _mm512_mul_ps(d, x.dx);
    if (type == TQ_Q4_1) return _mm512_fmadd_ps(m, x.term, _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc));
    return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, _mm512_castps_si512(x.term))), acc);
}

/* Prefetches bytes [from, to) at `ahead`: the weights of the next rows, streamed in while these are multiplied (the
   hardware prefetchers lose track of sixteen rows read a block at a time). Into the first-level cache when the rows
   ahead are few bytes (`tileBytes`, the bytes of sixteen rows, at most TQ_VNNI_L1_TILE), else only into the second:
   sixteen rows of 1,536 Q8_0 values (26 KiB) prefetched into a 32 KiB first-level cache evict the rows in use
   (measured: Q8_0 [576, 1536] one row 1.9× faster with the second-level hint, Q4_1 1.4×; [3072, 576] Q4_1 faster with
   the first). Prefetching never faults. */
#define TQ_VNNI_L1_TILE (12 * 1024)
TQ_VNNI static inline void tq_vnni_prefetch(const uint8_t *ahead, size_t from, size_t to, size_t tileBytes) {
    if (tileBytes <= TQ_VNNI_L1_TILE) {
        for (size_t at = from & ~(size_t)63; at < to; at += 64) _mm_prefetch((const char *)(ahead + at), _MM_HINT_T0);
    } else {
        for (size_t at = from & ~(size_t)63; at < to; at += 64) _mm_prefetch((const char *)(ahead + at), _MM_HINT_T1);
    }
}

/* tq_quantize_q8_32 sixteen values at a time, with the same bits: the maximum is exact in any order (a NaN is skipped
   as fmaxf skips it), the products are the same single roundings, vcvtps2dq rounds as lrintf does (to nearest even,
   in the default mode) and vpmovdb keeps the low byte as the cast to int8_t does. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
static void tq_quantize_q8_32_avx512(const float *x, int n, tq_q8_32 *out) {
    const __m512 magnitude = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    for (int b = 0; b < n / 32; b++) {
        __m512 lo = _mm512_loadu_ps(x + 32 * b), hi = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 top = _mm512_max_ps(_mm512_and_ps(hi, magnitude), _mm512_max_ps(_mm512_and_ps(lo, magnitude), _mm512_setzero_ps()));
        float amax = _mm512_reduce_max_ps(top);
        out[b].d = amax / 127.0f;
        __m512 inverse = _mm512_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
        __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inverse)), qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inverse));
        _mm_storeu_si128((__m128i *)out[b].q, _mm512_cvtepi32_epi8(qlo));
        _mm_storeu_si128((__m128i *)(out[b].q + 16), _mm512_cvtepi32_epi8(qhi));
        __m512i bytes = _mm512_cvtepi8_epi32(_mm512_cvtepi32_epi8(qlo));
        out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(bytes, _mm512_cvtepi8_epi32(_mm512_cvtepi32_epi8(qhi))));
    }
}
#endif
#endif
