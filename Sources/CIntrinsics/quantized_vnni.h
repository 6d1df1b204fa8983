#ifndef TESSERA_QUANTIZED_VNNI_H
#define TESSERA_QUANTIZED_VNNI_H
/* Q8_0, Q4_0 and Q4_1 products with AVX-512 VNNI (vpdpbusd: unsigned × signed bytes, four products summed into
   each 32-bit lane), compiled for those instructions whatever the build's target and only called after a runtime
   check (quantized_dot.h).

   Outputs are computed sixteen at a time, one per lane of a 512-bit register, in tiles of 4 weight rows × 4
   activation rows or of 16 weight rows × 1 activation row. Every lane performs the fold of quantized_portable.h
   for its (weight row, activation row) pair: per block, the exact integer sum, then
       acc = fma(d_w d_x, (float)sum', acc)            (Q8_0, Q4_0; sum' takes off the offset exactly)
       acc = fma(d_w d_x, (float)sum, acc); acc = fma(m_w, d_x (float)Σq_x, acc)    (Q4_1)
   in block order. So a lane's value does not depend on the tile it sits in, on the other rows, or on how many
   activation rows there are (batch invariance), and it equals the portable path bit for bit.

   A tile is four units u; unit u multiplies four weight rows (register chunk c = row c, 16 bytes each) by one
   activation row, as two vpdpbusd against the activation's bytes 0..<16 and 16..<32 broadcast to every chunk.
   tq_vnni_reduce sums each chunk's four lanes and leaves the (row c of unit u) sum in lane 4c + u. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>
#include "quantized_common.h"

#define TQ_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"), always_inline))

/* Bytes of a block and the offset of its quantized values, per type. */
#define TQ_VNNI_BLOCK_BYTES(type) ((type) == TQ_Q8_0 ? 34 : (type) == TQ_Q4_0 ? 18 : 20)
#define TQ_VNNI_QUANTS(type) ((type) == TQ_Q4_1 ? 4 : 2)

/* Sixteen bytes at `offset` of each of four rows, row c in 128-bit chunk c. */
TQ_VNNI static inline __m512i tq_vnni_load4(const uint8_t *const rows[4], size_t offset) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(rows[0] + offset)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[1] + offset)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[2] + offset)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[3] + offset)), 3);
}

/* One block of four weight rows as unsigned bytes, chunk c = row c: `lo` meets activations 0..<16, `hi` 16..<32.
   Q8_0's signed bytes are flipped to w + 128 (the fold takes 128 Σq_x off); nibbles are unsigned already. */
TQ_VNNI static inline void tq_vnni_weights(int type, const uint8_t *const rows[4], size_t offset, __m512i *lo, __m512i *hi) {
    if (type == TQ_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        *lo = _mm512_xor_si512(tq_vnni_load4(rows, offset), flip);
        *hi = _mm512_xor_si512(tq_vnni_load4(rows, offset + 16), flip);
    } else {
        const __m512i low = _mm512_set1_epi8(0xF);
        __m512i raw = tq_vnni_load4(rows, offset);
        *lo = _mm512_and_si512(raw, low);
        *hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
    }
}

/* A unit: the weights of four rows against one activation block's 32 values; four partial sums per chunk. */
TQ_VNNI static inline __m512i tq_vnni_unit(__m512i lo, __m512i hi, const int8_t *q) {
    __m512i xlo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q));
    __m512i xhi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(q + 16)));
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo), hi, xhi);
}

/* Lane 4c + u = the sum of the four lanes of chunk c of unit u. */
TQ_VNNI static inline __m512i tq_vnni_reduce(__m512i u0, __m512i u1, __m512i u2, __m512i u3) {
    __m512i p = _mm512_add_epi32(_mm512_unpacklo_epi32(u0, u1), _mm512_unpackhi_epi32(u0, u1));
    __m512i q = _mm512_add_epi32(_mm512_unpacklo_epi32(u2, u3), _mm512_unpackhi_epi32(u2, u3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(p, q), _mm512_unpackhi_epi64(p, q));
}

/* Per block, the activation side of a fold for four activation rows u in lanes 4c + u: their scales, and either
   d_x (float)Σq_x (Q4_1's minimum term) or the integer offset 128 Σq_x (Q8_0) or 8 Σq_x (Q4_0) as int32. */
typedef struct { __m512 dx; __m512 term; } tq_vnni_xlanes;

TQ_VNNI static inline void tq_vnni_prepare(int type, const tq_q8_32 *const x[4], int blocks, tq_vnni_xlanes *out) {
    for (int b = 0; b < blocks; b++) {
        __m512 dx = _mm512_broadcast_f32x4(_mm_setr_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d));
        __m512i xsum = _mm512_broadcast_i32x4(_mm_setr_epi32(x[0][b].sum, x[1][b].sum, x[2][b].sum, x[3][b].sum));
        out[b].dx = dx;
        if (type == TQ_Q4_1) out[b].term = _mm512_mul_ps(dx, _mm512_cvtepi32_ps(xsum));
        else out[b].term = _mm512_castsi512_ps(type == TQ_Q8_0 ? _mm512_slli_epi32(xsum, 7) : _mm512_slli_epi32(xsum, 3));
    }
}

/* One block's fold into every lane, given each lane's weight scale `d` (and minimum `m` for Q4_1). */
TQ_VNNI static inline __m512 tq_vnni_fold(int type, __m512 acc, __m512i sums, __m512 d, __m512 m, tq_vnni_xlanes x) {
    __m512 scale = _mm512_mul_ps(d, x.dx);
    if (type == TQ_Q4_1) return _mm512_fmadd_ps(m, x.term, _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc));
    return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_sub_epi32(sums, _mm512_castps_si512(x.term))), acc);
}

/* Prefetches bytes [from, to) at `ahead`: the weights of the next rows, streamed in while these are multiplied (the
   hardware prefetchers lose track of sixteen rows read a block at a time). Prefetching never faults. */
TQ_VNNI static inline void tq_vnni_prefetch(const uint8_t *ahead, size_t from, size_t to) {
    for (size_t at = from & ~(size_t)63; at < to; at += 64) _mm_prefetch((const char *)(ahead + at), _MM_HINT_T0);
}

static inline int32_t tq_load32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Weight rows w[c] (c < 4) times `groups` (1 or 2) groups of four activation rows, group g's lanes prepared in
   x[g] and its rows' blocks in q[g][u]: lane 4c + u of out[g]. The four rows at `ahead` are prefetched. */
TQ_VNNI static inline void tq_vnni_tile4(int type, int groups, const uint8_t *const w[4], const tq_q8_32 *const q[2][4],
                                         const tq_vnni_xlanes *const x[2], int blocks, const uint8_t *ahead, __m512 out[2]) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type);
    const __m512i dOfLane = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i mOfLane = _mm512_add_epi32(dOfLane, _mm512_set1_epi32(1));
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int b = 0; b < blocks; b++) {
        size_t at = (size_t)b * blockBytes;
        __m512i lo, hi;
        tq_vnni_weights(type, w, at + TQ_VNNI_QUANTS(type), &lo, &hi);
        tq_vnni_prefetch(ahead, 4 * at, 4 * (at + blockBytes));
        __m128i headers = _mm_setr_epi32(tq_load32(w[0] + at), tq_load32(w[1] + at), tq_load32(w[2] + at), tq_load32(w[3] + at));
        __m512 dm = _mm512_castps256_ps512(_mm256_cvtph_ps(headers));
        __m512 d = _mm512_permutexvar_ps(dOfLane, dm), m = _mm512_permutexvar_ps(mOfLane, dm);
        for (int g = 0; g < groups; g++) {
            __m512i sums = tq_vnni_reduce(tq_vnni_unit(lo, hi, q[g][0][b].q), tq_vnni_unit(lo, hi, q[g][1][b].q),
                                          tq_vnni_unit(lo, hi, q[g][2][b].q), tq_vnni_unit(lo, hi, q[g][3][b].q));
            acc[g] = tq_vnni_fold(type, acc[g], sums, d, m, x[g][b]);
        }
    }
    for (int g = 0; g < groups; g++) out[g] = acc[g];
}

/* The integer sums of weight rows w[4g + c] (g, c < 4) with activation row x, for every block, into sums[16 b + 4c + g]
   (the lanes of tq_vnni_tile16x1). Four rows at a time over four blocks at a time (the units are blocks b + u), so
   the weights are read as four streams; the sixteen rows at `ahead` are prefetched along. */
TQ_VNNI static inline void tq_vnni_sums16(int type, const uint8_t *const w[16], const tq_q8_32 *x, int blocks, const uint8_t *ahead,
                                          int32_t *sums) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type);
    int32_t lanes[16];
    for (int g = 0; g < 4; g++) {
        for (int b = 0; b < blocks; b += 4) {
            __m512i units[4];
            for (int u = 0; u < 4; u++) {
                int block = b + u < blocks ? b + u : blocks - 1;
                __m512i lo, hi;
                tq_vnni_weights(type, w + 4 * g, (size_t)block * blockBytes + TQ_VNNI_QUANTS(type), &lo, &hi);
                units[u] = tq_vnni_unit(lo, hi, x[block].q);
            }
            size_t step = (size_t)(g * blocks + b) * 4 * blockBytes;
            tq_vnni_prefetch(ahead, step, step + 16 * (size_t)blockBytes);
            _mm512_storeu_si512(lanes, tq_vnni_reduce(units[0], units[1], units[2], units[3]));
            for (int u = 0; u < 4 && b + u < blocks; u++) {
                for (int c = 0; c < 4; c++) sums[16 * (b + u) + 4 * c + g] = lanes[4 * c + u];
            }
        }
    }
}

/* Weight rows w[4u + c] (u, c < 4) times one activation row x: lane 4c + u, its block sums from tq_vnni_sums16.
   `headerIndex` lane 4c + u holds the byte distance from w[0] to w[4u + c]. */
TQ_VNNI static inline __m512 tq_vnni_tile16x1(int type, const uint8_t *const w[16], __m512i headerIndex, const tq_q8_32 *x, int blocks,
                                              const uint8_t *ahead, int32_t *sums) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type);
    tq_vnni_sums16(type, w, x, blocks, ahead, sums);
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        __m512i header = _mm512_i32gather_epi32(headerIndex, (const void *)(w[0] + (size_t)b * blockBytes), 1);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(header));
        __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(header, 16)));
        __m512 dx = _mm512_set1_ps(x[b].d);
        tq_vnni_xlanes lanes = {dx, type == TQ_Q4_1 ? _mm512_set1_ps(x[b].d * (float)x[b].sum)
                                                    : _mm512_castsi512_ps(_mm512_set1_epi32(x[b].sum * (type == TQ_Q8_0 ? 128 : 8)))};
        acc = tq_vnni_fold(type, acc, _mm512_loadu_si512(sums + 16 * b), d, m, lanes);
    }
    return acc;
}

/* Activation rows of a call: their blocks, and the lanes of each group of four prepared once for every weight row. */
typedef struct {
    const uint8_t *x;
    size_t rowBytes;
    int rows, groups;
    const tq_vnni_xlanes *lanes; /* groups × blocks */
    int32_t *sums;               /* 16 × blocks: tq_vnni_sums16's scratch */
} tq_vnni_activations;

/* Rows [first, first + 16) of the range (the last row repeated past rowEnd, its lanes not stored) against every
   activation row: pairs of groups of four activation rows by 4 × 8 tiles, a last group by 4 × 4, the remaining rows
   one at a time by 16 × 1 tiles. */
TQ_VNNI static inline void tq_vnni_rows16(int type, const uint8_t *w, size_t rowBytes, int first, int rowEnd,
                                          const tq_vnni_activations *a, int n, float *y, size_t ldy) {
    const uint8_t *rows[16];
    int32_t distance[16];
    for (int i = 0; i < 16; i++) rows[i] = w + (size_t)(first + i < rowEnd ? first + i : rowEnd - 1) * rowBytes;
    for (int k = 0; k < 16; k++) distance[k] = (int32_t)(rows[4 * (k % 4) + k / 4] - rows[0]);
    float lanes[2][16];
    for (int group = 0; group < a->groups; group += 2) {
        int count = group + 2 <= a->groups ? 2 : 1;
        const tq_q8_32 *q[2][4];
        const tq_vnni_xlanes *x[2];
        for (int g = 0; g < 2; g++) {
            int at = group + (g < count ? g : 0);
            x[g] = a->lanes + (size_t)at * (n / 32);
            for (int u = 0; u < 4; u++) q[g][u] = (const tq_q8_32 *)(a->x + (size_t)(4 * at + u) * a->rowBytes);
        }
        for (int c0 = 0; c0 < 16 && first + c0 < rowEnd; c0 += 4) {
            __m512 out[2];
            const uint8_t *ahead = rows[c0] + 16 * rowBytes;
            if (count == 2) tq_vnni_tile4(type, 2, rows + c0, q, x, n / 32, ahead, out);
            else tq_vnni_tile4(type, 1, rows + c0, q, x, n / 32, ahead, out);
            for (int g = 0; g < count; g++) _mm512_storeu_ps(lanes[g], out[g]);
            for (int c = 0; c < 4 && first + c0 + c < rowEnd; c++) {
                for (int g = 0; g < count; g++) {
                    for (int u = 0; u < 4; u++) y[(size_t)(4 * (group + g) + u) * ldy + first + c0 + c] = lanes[g][4 * c + u];
                }
            }
        }
    }
    __m512i headerIndex = _mm512_loadu_si512(distance);
    for (int t = 4 * a->groups; t < a->rows; t++) {
        const tq_q8_32 *x = (const tq_q8_32 *)(a->x + (size_t)t * a->rowBytes);
        _mm512_storeu_ps(lanes[0], tq_vnni_tile16x1(type, rows, headerIndex, x, n / 32, rows[0] + 16 * rowBytes, a->sums));
        for (int k = 0; k < 16; k++) {
            int row = first + 4 * (k % 4) + k / 4;
            if (row < rowEnd) y[(size_t)t * ldy + row] = lanes[0][k];
        }
    }
}

TQ_VNNI static inline void tq_vnni_rows(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                                        size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    tq_vnni_activations a = {x, xRowBytes, xRows, xRows / 4, NULL, NULL};
    tq_vnni_xlanes *lanes = NULL;
    if (a.groups > 0) {
        lanes = (tq_vnni_xlanes *)aligned_alloc(64, sizeof(tq_vnni_xlanes) * (size_t)a.groups * (size_t)(n / 32));
        if (lanes == NULL) a.groups = 0; /* out of memory: every row by the 16 × 1 tiles, the same values */
    }
    int32_t *sums = NULL;
    if (xRows > 4 * a.groups) {
        sums = (int32_t *)aligned_alloc(64, 64 * (size_t)(n / 32 > 0 ? n / 32 : 1));
        if (sums == NULL) abort(); /* 64 bytes per block of one row */
    }
    a.sums = sums;
    for (int g = 0; g < a.groups; g++) {
        const tq_q8_32 *rows[4];
        for (int u = 0; u < 4; u++) rows[u] = (const tq_q8_32 *)(x + (size_t)(4 * g + u) * xRowBytes);
        tq_vnni_prepare(type, rows, n / 32, lanes + (size_t)g * (n / 32));
    }
    a.lanes = lanes;
    for (int first = rowBegin; first < rowEnd; first += 16) tq_vnni_rows16(type, w, rowBytes, first, rowEnd, &a, n, y, ldy);
    free(lanes);
    free(sums);
}

/* tq_rows for Q8_0, Q4_0 and Q4_1; returns 0 for the other types, which are left to the AVX2 path. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
static int tq_rows_vnni(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                        size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    switch (type) {
    case TQ_Q8_0: tq_vnni_rows(TQ_Q8_0, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1;
    case TQ_Q4_0: tq_vnni_rows(TQ_Q4_0, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1;
    case TQ_Q4_1: tq_vnni_rows(TQ_Q4_1, w, rowBytes, rowBegin, rowEnd, x, xRowBytes, xRows, n, y, ldy); return 1;
    default: return 0;
    }
}
#endif
#endif
