#ifndef TESSERA_QUANTIZED_VNNI_BATCH_H
#define TESSERA_QUANTIZED_VNNI_BATCH_H
/* Sixteen weight rows against two to eight activation rows with AVX-512 VNNI: batched decoding, where every weight
   byte meets several activation rows and the products, not the memory, set the pace.

   Lane i of every register belongs to weight row i. Per block, the sixteen rows' quantized bytes are loaded as four
   registers of four rows each (rows g, g + 4, g + 8, g + 12 in the 128-bit chunks of register g) and transposed by
   four-byte words within the chunks (eight unpacks), which leaves register k with bytes 4k ..< 4k + 4 of row i in lane
   i: eight registers of unsigned bytes per block (the low and high nibbles of the 4-bit types, the two halves of
   Q8_0's values, flipped to w + 128), register j meeting activation values 4j ..< 4j + 4. Each activation row then
   takes eight vpdpbusd against those registers, its four values broadcast from memory, and one fold; the weights'
   loading and unpacking is shared by every activation row. (The tiles of 4 weight rows × 4 activation rows this
   replaced, one activation row per 128-bit chunk, spent more instructions reducing the chunks' partial sums than
   multiplying: SmolLM2's [1536, 576] Q4_1 matrix times 8 rows on one core took 84 µs there, 54 µs here, measured
   by a C microbenchmark of tq_rows on this project's 2-core AMD EPYC, Zen 4.)

   Every lane folds its (weight row, activation row) pair as quantized_portable.h does: per block the exact integer
   sum (for Q8_0 and Q4_0 started at −128 Σq_x or −8 Σq_x, the same integer as subtracting it afterwards), then
       acc = fma(d_w d_x, (float)sum, acc)                                          (Q8_0, Q4_0)
       acc = fma(d_w d_x, (float)sum, acc); acc = fma(m_w, d_x (float)Σq_x, acc)    (Q4_1)
   in block order, so a value does not depend on the tile, the other rows or how many activation rows there are
   (batch invariance), and it equals the portable path bit for bit. */
#if defined(__x86_64__)
#include "quantized_vnni_common.h"

/* Sixteen bytes at `offset` of each of sixteen rows in four registers: chunk c of r[g] = row 4c + g. */
TQ_VNNI static inline void tq_vnni_load16(const uint8_t *const rows[16], size_t offset, __m512i r[4]) {
    #pragma clang loop unroll(full)
    for (int g = 0; g < 4; g++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(rows[g] + offset)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[g + 4] + offset)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[g + 8] + offset)), 2);
        r[g] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rows[g + 12] + offset)), 3);
    }
}

/* The four-byte words of sixteen bytes at `offset` of rows[0 ..< 16]: lane i of out[k] = bytes 4k ..< 4k + 4 of
   row i. */
TQ_VNNI static inline void tq_vnni_transpose16(const uint8_t *const rows[16], size_t offset, __m512i out[4]) {
    __m512i r[4];
    tq_vnni_load16(rows, offset, r);
    /* after the unpacks lane 4c + g of out[k] = word k of r[g]'s chunk c, row 4c + g */
    __m512i a = _mm512_unpacklo_epi32(r[0], r[1]), b = _mm512_unpackhi_epi32(r[0], r[1]);
    __m512i c = _mm512_unpacklo_epi32(r[2], r[3]), d = _mm512_unpackhi_epi32(r[2], r[3]);
    out[0] = _mm512_unpacklo_epi64(a, c);
    out[1] = _mm512_unpackhi_epi64(a, c);
    out[2] = _mm512_unpacklo_epi64(b, d);
    out[3] = _mm512_unpackhi_epi64(b, d);
}

/* The first four bytes of the block at `at` of each of sixteen rows (its scale, and Q4_1's minimum), lane i = row i:
   the loads and transposition of tq_vnni_transpose16 for the first word only (these lines are read for the block's
   values anyway). A vpgatherdd instead made the tile 1.15× slower on Zen 4 (C microbenchmark of tq_rows, [1536, 576]
   Q4_1 × 8 rows in cache: 54.0 → 46.2 µs without it; Q8_0 54.6 → 47.9). */
TQ_VNNI static inline __m512i tq_vnni_headers16(const uint8_t *const rows[16], size_t at) {
    __m512i r[4];
    tq_vnni_load16(rows, at, r);
    return _mm512_unpacklo_epi64(_mm512_unpacklo_epi32(r[0], r[1]), _mm512_unpacklo_epi32(r[2], r[3]));
}

/* Block `at` (its first byte) of sixteen rows as eight registers of unsigned bytes, w[j] meeting activation values
   4j ..< 4j + 4. */
TQ_VNNI static inline void tq_vnni_block16(int type, const uint8_t *const rows[16], size_t at, __m512i w[8]) {
    if (type == TQ_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        tq_vnni_transpose16(rows, at + 2, w);
        tq_vnni_transpose16(rows, at + 18, w + 4);
        #pragma clang loop unroll(full)
        for (int j = 0; j < 8; j++) w[j] = _mm512_xor_si512(w[j], flip);
        return;
    }
    const __m512i low = _mm512_set1_epi8(0xF);
    __m512i raw[4];
    tq_vnni_transpose16(rows, at + TQ_VNNI_QUANTS(type), raw);
    #pragma clang loop unroll(full)
    for (int k = 0; k < 4; k++) {
        w[k] = _mm512_and_si512(raw[k], low);
        w[k + 4] = _mm512_and_si512(_mm512_srli_epi16(raw[k], 4), low);
    }
}

/* Per activation row and block, the activation side of the fold that does not depend on the weights: d_x (float)Σq_x
   for Q4_1 (as Float32 bits), −128 Σq_x for Q8_0 and −8 Σq_x for Q4_0. */
static inline void tq_vnni_batch_terms(int type, const uint8_t *x, size_t xRowBytes, int xRows, int blocks, int32_t *out) {
    for (int t = 0; t < xRows; t++) {
        const tq_q8_32 *row = (const tq_q8_32 *)(x + (size_t)t * xRowBytes);
        for (int b = 0; b < blocks; b++) {
            float term = row[b].d * (float)row[b].sum;
            if (type == TQ_Q4_1) memcpy(out + (size_t)t * blocks + b, &term, 4);
            else out[(size_t)t * blocks + b] = -(type == TQ_Q8_0 ? 128 : 8) * row[b].sum;
        }
    }
}

/* Block b of sixteen weight rows (unsigned bytes `wb`, scales `d`, Q4_1's minimums `m`) against `count` activation
   rows: each row's eight vpdpbusd and its fold into acc[t]. With fewer than four rows each row's products run in two
   chains of four, whose exact integer sums are then added (the rows alone would leave vpdpbusd waiting on its
   latency); with four or more the rows' chains are enough and each row takes one chain, an addition less per row
   and block. Integer sums are exact in any order, so both give the same bits. */
TQ_VNNI static inline void tq_vnni_columns(int type, int count, const __m512i wb[8], __m512 d, __m512 m, const tq_q8_32 *const x[8],
                                           const int32_t *const terms[8], int b, __m512 acc[8]) {
    #pragma clang loop unroll(full)
    for (int t = 0; t < count; t++) {
        const tq_q8_32 *xb = x[t] + b;
        __m512i even = type == TQ_Q4_1 ? _mm512_setzero_si512() : _mm512_set1_epi32(terms[t][b]), odd = _mm512_setzero_si512();
        #pragma clang loop unroll(full)
        for (int j = 0; j < 8; j += 2) {
            int32_t first, second;
            memcpy(&first, xb->q + 4 * j, 4);
            memcpy(&second, xb->q + 4 * j + 4, 4);
            even = _mm512_dpbusd_epi32(even, wb[j], _mm512_set1_epi32(first));
            if (count >= 4) even = _mm512_dpbusd_epi32(even, wb[j + 1], _mm512_set1_epi32(second));
            else odd = _mm512_dpbusd_epi32(odd, wb[j + 1], _mm512_set1_epi32(second));
        }
        __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(xb->d));
        acc[t] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(count >= 4 ? even : _mm512_add_epi32(even, odd)), acc[t]);
        if (type == TQ_Q4_1) acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(((const float *)terms[t])[b]), acc[t]);
    }
}

/* Sixteen weight rows (`rows`; `valid` of them real, the rest repeats of the last, computed but not stored) times
   `count` (1 ..< 9, a constant where inlined) activation rows x[t] (their terms of tq_vnni_batch_terms in terms[t])
   into y[t ldy ..< t ldy + valid]. Prefetches sixteen rows at `ahead` into the second-level cache, spread over the
   blocks. */
TQ_VNNI static inline void tq_vnni_tile16x(int type, int count, const uint8_t *const rows[16], int valid, const tq_q8_32 *const x[8],
                                           const int32_t *const terms[8], int blocks, const uint8_t *ahead, float *y, size_t ldy) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type);
    __m512 acc[8];
    #pragma clang loop unroll(full)
    for (int t = 0; t < count; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        size_t at = (size_t)b * blockBytes;
        __m512i wb[8];
        tq_vnni_block16(type, rows, at, wb);
        tq_vnni_prefetch(ahead, 16 * at, 16 * (at + blockBytes), SIZE_MAX);
        __m512i header = tq_vnni_headers16(rows, at);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(header));
        __m512 m = type == TQ_Q4_1 ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(header, 16))) : d;
        tq_vnni_columns(type, count, wb, d, m, x, terms, b, acc);
    }
    const __mmask16 stored = (__mmask16)((1u << valid) - 1);
    #pragma clang loop unroll(full)
    for (int t = 0; t < count; t++) _mm512_mask_storeu_ps(y + (size_t)t * ldy, stored, acc[t]);
}

/* Activation rows t ..< t + count (count = min(8, xRows − t), returned) and their terms of tq_vnni_batch_terms as
   the tiles take them: xs[u] and ts[u] for u < 8, row t standing in past count. */
static inline int tq_vnni_chunk(const uint8_t *x, size_t xRowBytes, int xRows, const int32_t *terms, int blocks, int t,
                                const tq_q8_32 *xs[8], const int32_t *ts[8]) {
    int count = xRows - t < 8 ? xRows - t : 8;
    for (int u = 0; u < 8; u++) {
        int row = t + (u < count ? u : 0);
        xs[u] = (const tq_q8_32 *)(x + (size_t)row * xRowBytes);
        ts[u] = terms + (size_t)row * blocks;
    }
    return count;
}

/* Calls `tile(c, ...)` with `count` (1 ..< 9) as a constant c, so each count is compiled with its own registers. */
#define TQ_VNNI_BY_COUNT(count, tile, ...)                  \
    switch (count) {                                        \
    case 1: tile(1, __VA_ARGS__); break;                    \
    case 2: tile(2, __VA_ARGS__); break;                    \
    case 3: tile(3, __VA_ARGS__); break;                    \
    case 4: tile(4, __VA_ARGS__); break;                    \
    case 5: tile(5, __VA_ARGS__); break;                    \
    case 6: tile(6, __VA_ARGS__); break;                    \
    case 7: tile(7, __VA_ARGS__); break;                    \
    default: tile(8, __VA_ARGS__); break;                   \
    }

/* tq_vnni_tile16x for `count` activation rows, each count compiled with its own registers. */
TQ_VNNI static inline void tq_vnni_tile16x_any(int type, int count, const uint8_t *const rows[16], int valid, const tq_q8_32 *const x[8],
                                               const int32_t *const terms[8], int blocks, const uint8_t *ahead, float *y, size_t ldy) {
#define TQ_VNNI_TILE16X(c, ...) tq_vnni_tile16x(type, c, __VA_ARGS__)
    TQ_VNNI_BY_COUNT(count, TQ_VNNI_TILE16X, rows, valid, x, terms, blocks, ahead, y, ldy)
#undef TQ_VNNI_TILE16X
}
#endif
#endif
