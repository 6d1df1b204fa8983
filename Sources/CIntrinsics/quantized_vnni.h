#ifndef TESSERA_QUANTIZED_VNNI_H
#define TESSERA_QUANTIZED_VNNI_H
/* Q8_0, Q4_0 and Q4_1 products with AVX-512 VNNI (vpdpbusd: unsigned × signed bytes, four products summed into
   each 32-bit lane), compiled for those instructions whatever the build's target and only called after a runtime
   check (quantized_dot.h).

   Outputs are computed sixteen at a time, one per lane of a 512-bit register, in tiles of 4 weight rows × 4
   activation rows, or of 16 weight rows × 1 activation row (quantized_vnni_row.h). Every lane performs the fold of quantized_portable.h
   for its (weight row, activation row) pair: per block, the exact integer sum, then
       acc = fma(d_w d_x, (float)sum', acc)            (Q8_0, Q4_0; sum' takes off the offset exactly)
       acc = fma(d_w d_x, (float)sum, acc); acc = fma(m_w, d_x (float)Σq_x, acc)    (Q4_1)
   in block order. So a lane's value does not depend on the tile it sits in, on the other rows, or on how many
   activation rows there are (batch invariance), and it equals the portable path bit for bit.

   A tile is four units u; unit u multiplies four weight rows (register chunk c = row c, 16 bytes each) by one
   activation row, as two vpdpbusd against the activation's bytes 0..<16 and 16..<32 broadcast to every chunk.
   tq_vnni_reduce sums each chunk's four lanes and leaves the (row c of unit u) sum in lane 4c + u. */
#if defined(__x86_64__)
#include <stdlib.h>
#include "quantized_vnni_row.h"

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

TQ_VNNI static inline void tq_vnni_prepare(int type, const tq_q8_32 *const x[4], int blocks, tq_vnni_xlanes *out) {
    for (int b = 0; b < blocks; b++) {
        __m512 dx = _mm512_broadcast_f32x4(_mm_setr_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d));
        __m512i xsum = _mm512_broadcast_i32x4(_mm_setr_epi32(x[0][b].sum, x[1][b].sum, x[2][b].sum, x[3][b].sum));
        out[b].dx = dx;
        if (type == TQ_Q4_1) out[b].term = _mm512_mul_ps(dx, _mm512_cvtepi32_ps(xsum));
        else out[b].term = _mm512_castsi512_ps(type == TQ_Q8_0 ? _mm512_slli_epi32(xsum, 7) : _mm512_slli_epi32(xsum, 3));
    }
}

static inline int32_t tq_load32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Weight rows w[c] (c < 4) times `groups` (1 or 2) groups of four activation rows, group g's lanes prepared in
   x[g] and its rows' blocks in q[g][u]: lane 4c + u of out[g]. The four rows at `ahead` are prefetched. */
TQ_VNNI static inline void tq_vnni_tile4(int type, int groups, const uint8_t *const w[4], const tq_q8_32 *const q[2][4],
                                         const tq_vnni_xlanes *const x[2], int blocks, const uint8_t *ahead, size_t tileBytes, __m512 out[2]) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type);
    const __m512i dOfLane = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
    const __m512i mOfLane = _mm512_add_epi32(dOfLane, _mm512_set1_epi32(1));
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int b = 0; b < blocks; b++) {
        size_t at = (size_t)b * blockBytes;
        __m512i lo, hi;
        tq_vnni_weights(type, w, at + TQ_VNNI_QUANTS(type), &lo, &hi);
        tq_vnni_prefetch(ahead, 4 * at, 4 * (at + blockBytes), tileBytes);
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

/* Activation rows of a call: their blocks, the lanes of each group of four prepared once for every weight row, and
   the values of the remaining rows (past the last whole group) laid out for tq_vnni_tile16. */
typedef struct {
    const uint8_t *x;
    size_t rowBytes;
    int rows, groups;
    const tq_vnni_xlanes *lanes; /* groups × blocks */
    const __m512i *values;       /* (rows − 4 groups) × 2 ⌈blocks / 4⌉: tq_vnni_row_x */
    __m512i index[2];            /* tq_vnni_row_index */
} tq_vnni_activations;

/* Rows [first, first + 16) of the range (the last row repeated past rowEnd, its lanes not stored) against every
   activation row: pairs of groups of four activation rows by 4 × 8 tiles, a last group by 4 × 4, the remaining rows
   one at a time by tq_vnni_tile16. */
TQ_VNNI static inline void tq_vnni_rows16(int type, const uint8_t *w, size_t rowBytes, int first, int rowEnd,
                                          const tq_vnni_activations *a, int n, float *y, size_t ldy) {
    const uint8_t *rows[16];
    for (int i = 0; i < 16; i++) rows[i] = w + (size_t)(first + i < rowEnd ? first + i : rowEnd - 1) * rowBytes;
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
            if (count == 2) tq_vnni_tile4(type, 2, rows + c0, q, x, n / 32, ahead, 16 * rowBytes, out);
            else tq_vnni_tile4(type, 1, rows + c0, q, x, n / 32, ahead, 16 * rowBytes, out);
            for (int g = 0; g < count; g++) _mm512_storeu_ps(lanes[g], out[g]);
            for (int c = 0; c < 4 && first + c0 + c < rowEnd; c++) {
                for (int g = 0; g < count; g++) {
                    for (int u = 0; u < 4; u++) y[(size_t)(4 * (group + g) + u) * ldy + first + c0 + c] = lanes[g][4 * c + u];
                }
            }
        }
    }
    int valid = rowEnd - first < 16 ? rowEnd - first : 16, groups = (n / 32 + 3) / 4;
    for (int t = 4 * a->groups; t < a->rows; t++) {
        const tq_q8_32 *x = (const tq_q8_32 *)(a->x + (size_t)t * a->rowBytes);
        const __m512i *values = a->values + (size_t)(t - 4 * a->groups) * 2 * groups;
        tq_vnni_tile16(type, rows[0], rowBytes, valid, x, values, n / 32, a->index, rows[0] + 16 * rowBytes, 16 * rowBytes,
                       y + (size_t)t * ldy + first);
    }
}

TQ_VNNI static inline void tq_vnni_rows(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                                        size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    tq_vnni_activations a = {x, xRowBytes, xRows, xRows / 4, NULL, NULL, {_mm512_setzero_si512(), _mm512_setzero_si512()}};
    tq_vnni_xlanes *lanes = NULL;
    if (a.groups > 0) {
        lanes = (tq_vnni_xlanes *)aligned_alloc(64, sizeof(tq_vnni_xlanes) * (size_t)a.groups * (size_t)(n / 32));
        if (lanes == NULL) a.groups = 0; /* out of memory: every row by the 16 × 1 tiles, the same values */
    }
    for (int g = 0; g < a.groups; g++) {
        const tq_q8_32 *rows[4];
        for (int u = 0; u < 4; u++) rows[u] = (const tq_q8_32 *)(x + (size_t)(4 * g + u) * xRowBytes);
        tq_vnni_prepare(type, rows, n / 32, lanes + (size_t)g * (n / 32));
    }
    a.lanes = lanes;
    __m512i *values = NULL;
    int remaining = xRows - 4 * a.groups, groups = (n / 32 + 3) / 4;
    if (remaining > 0) {
        values = (__m512i *)aligned_alloc(64, sizeof(__m512i) * 2 * (size_t)groups * (size_t)remaining);
        if (values == NULL) abort(); /* 128 bytes per four blocks of at most three rows (or of all, after the above) */
        for (int t = 0; t < remaining; t++)
            tq_vnni_row_x(type, (const tq_q8_32 *)(x + (size_t)(4 * a.groups + t) * xRowBytes), n / 32, values + (size_t)t * 2 * groups);
        tq_vnni_row_index(type, a.index);
    }
    a.values = values;
    for (int first = rowBegin; first < rowEnd; first += 16) tq_vnni_rows16(type, w, rowBytes, first, rowEnd, &a, n, y, ldy);
    free(lanes);
    free(values);
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
