#ifndef TESSERA_QUANTIZED_VNNI_ROW_H
#define TESSERA_QUANTIZED_VNNI_ROW_H
/* One activation row against sixteen weight rows with AVX-512 VNNI: the decoding step's products (one token per
   sequence), where the weights stream from memory once and every byte meets one activation row.

   Each weight row is read four blocks at a time: two or three loads (masked past the four blocks, so nothing past
   the matrix is touched) and one permutation of 16-bit words (vpermt2w) per register put the four blocks' quantized
   values side by side, block j in 128-bit chunk j for the 4-bit types (low nibbles against the activation chunk of values 0..<16, high
   nibbles against 16..<32), or two blocks per register for Q8_0. The activation's values are laid out the same way
   once per call (tq_vnni_row_x), so one pair of registers serves all sixteen rows. tq_vnni_reduce sums each chunk
   of four rows at a time, a transposition of 128-bit chunks gives one register per block with row i in lane i, and
   each block is folded into the sixteen lanes in block order with tq_vnni_fold: every lane's value is the one the
   portable path computes, bit for bit, whatever the tile or the other rows. */
#if defined(__x86_64__)
#include "quantized_vnni_common.h"

/* The activation row's values for tq_vnni_tile16: per group k of four blocks two registers, for the 4-bit types
   chunk j = values 0..<16 (first) and 16..<32 (second) of block 4k + j, for Q8_0 blocks 4k, 4k + 1 (first) and
   4k + 2, 4k + 3 (second); zero past the last block. */
TQ_VNNI static inline void tq_vnni_row_x(int type, const tq_q8_32 *x, int blocks, __m512i *out) {
    int8_t *bytes = (int8_t *)out;
    memset(bytes, 0, (size_t)(blocks + 3) / 4 * 128);
    for (int b = 0; b < blocks; b++) {
        int8_t *group = bytes + (size_t)(b / 4) * 128;
        if (type == TQ_Q8_0) {
            memcpy(group + 32 * (b % 4), x[b].q, 32);
        } else {
            memcpy(group + 16 * (b % 4), x[b].q, 16);
            memcpy(group + 64 + 16 * (b % 4), x[b].q + 16, 16);
        }
    }
}

/* Bytes [offset, offset + 64) of `base` that lie below `span`, the rest zero; nothing at or past `span` is read. */
TQ_VNNI static inline __m512i tq_vnni_load_span(const uint8_t *base, int span, int offset) {
    int count = span - offset;
    if (count <= 0) return _mm512_setzero_si512();
    __mmask64 mask = count >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
    return _mm512_maskz_loadu_epi8(mask, base + offset);
}

/* The permutations of 16-bit words (every block and its values start at an even byte) that gather four blocks' values:
   for the 4-bit types chunk j of index[0] = bytes quants + blockBytes j + (0..<16); for Q8_0 index[0] takes blocks
   0, 1 (32 bytes each) from loads 0 and 1, index[1] blocks 2, 3 from loads 1 and 2. */
TQ_VNNI static inline void tq_vnni_row_index(int type, __m512i index[2]) {
    int blockBytes = TQ_VNNI_BLOCK_BYTES(type), quants = TQ_VNNI_QUANTS(type);
    uint16_t a[32], b[32];
    for (int i = 0; i < 32; i++) {
        if (type == TQ_Q8_0) {
            a[i] = (uint16_t)((quants + blockBytes * (i / 16)) / 2 + i % 16);
            b[i] = (uint16_t)((quants + blockBytes * (2 + i / 16) - 64) / 2 + i % 16);
        } else {
            a[i] = b[i] = (uint16_t)((quants + blockBytes * (i / 8)) / 2 + i % 8);
        }
    }
    index[0] = _mm512_loadu_si512(a);
    index[1] = _mm512_loadu_si512(b);
}

/* The integer sums of one weight row's four blocks at `base` (`span` bytes of them) with the activation group `x`:
   chunk j holds four partial sums of block j. */
TQ_VNNI static inline __m512i tq_vnni_row_sums(int type, const uint8_t *base, int span, __m512i indexLo, __m512i indexHi,
                                               const __m512i x[2]) {
    __m512i load0 = tq_vnni_load_span(base, span, 0), load1 = tq_vnni_load_span(base, span, 64);
    if (type == TQ_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        __m512i load2 = tq_vnni_load_span(base, span, 128);
        __m512i a = _mm512_xor_si512(_mm512_permutex2var_epi16(load0, indexLo, load1), flip);
        __m512i b = _mm512_xor_si512(_mm512_permutex2var_epi16(load1, indexHi, load2), flip);
        __m512i sa = _mm512_dpbusd_epi32(_mm512_setzero_si512(), a, x[0]), sb = _mm512_dpbusd_epi32(_mm512_setzero_si512(), b, x[1]);
        return _mm512_add_epi32(_mm512_shuffle_i32x4(sa, sb, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_i32x4(sa, sb, _MM_SHUFFLE(3, 1, 3, 1)));
    }
    const __m512i low = _mm512_set1_epi8(0xF);
    __m512i raw = _mm512_permutex2var_epi16(load0, indexLo, load1);
    __m512i lo = _mm512_and_si512(raw, low), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x[0]), hi, x[1]);
}

/* Sixteen weight rows at w (`rowBytes` apart; `valid` of them real, the rest repeats of the last, loaded but not
   stored) times the activation row x (`blocks` blocks, its values laid out by tq_vnni_row_x in `xv`, the byte
   permutations of tq_vnni_row_index in `index`) into y[0 ..< valid]. Prefetches `prefetchBytes` at `ahead`, spread
   over the groups. */
TQ_VNNI static inline void tq_vnni_tile16(int type, const uint8_t *w, size_t rowBytes, int valid, const tq_q8_32 *x,
                                          const __m512i *xv, int blocks, const __m512i index[2], const uint8_t *ahead,
                                          size_t prefetchBytes, float *y) {
    const int blockBytes = TQ_VNNI_BLOCK_BYTES(type), groups = (blocks + 3) / 4;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i row = _mm512_min_epi32(lane, _mm512_set1_epi32(valid - 1));
    const __m512i headerIndex = _mm512_mullo_epi32(row, _mm512_set1_epi32((int32_t)rowBytes));
    const uint8_t *rows[16];
    for (int i = 0; i < 16; i++) rows[i] = w + (size_t)(i < valid ? i : valid - 1) * rowBytes;
    const __m512i indexLo = index[0], indexHi = index[1];
    size_t prefetchStep = (prefetchBytes / (size_t)groups + 63) & ~(size_t)63;
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < groups; k++) {
        int count = blocks - 4 * k < 4 ? blocks - 4 * k : 4, span = count * blockBytes;
        size_t at = (size_t)(4 * k) * blockBytes;
        __m512i r[4];
        for (int g = 0; g < 4; g++) {
            r[g] = tq_vnni_reduce(tq_vnni_row_sums(type, rows[4 * g] + at, span, indexLo, indexHi, xv + 2 * k),
                                  tq_vnni_row_sums(type, rows[4 * g + 1] + at, span, indexLo, indexHi, xv + 2 * k),
                                  tq_vnni_row_sums(type, rows[4 * g + 2] + at, span, indexLo, indexHi, xv + 2 * k),
                                  tq_vnni_row_sums(type, rows[4 * g + 3] + at, span, indexLo, indexHi, xv + 2 * k));
        }
        tq_vnni_prefetch(ahead, (size_t)k * prefetchStep, (size_t)(k + 1) * prefetchStep, 16 * rowBytes);
        /* r[g] lane 4c + u = block c of row 4g + u; sums[c] lane i = block c of row i. */
        __m512i p0 = _mm512_shuffle_i32x4(r[0], r[1], _MM_SHUFFLE(1, 0, 1, 0)), p1 = _mm512_shuffle_i32x4(r[2], r[3], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i q0 = _mm512_shuffle_i32x4(r[0], r[1], _MM_SHUFFLE(3, 2, 3, 2)), q1 = _mm512_shuffle_i32x4(r[2], r[3], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i sums[4] = {_mm512_shuffle_i32x4(p0, p1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_i32x4(p0, p1, _MM_SHUFFLE(3, 1, 3, 1)),
                           _mm512_shuffle_i32x4(q0, q1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_i32x4(q0, q1, _MM_SHUFFLE(3, 1, 3, 1))};
        for (int c = 0; c < count; c++) {
            int b = 4 * k + c;
            __m512i header = _mm512_i32gather_epi32(headerIndex, (const void *)(w + (size_t)b * blockBytes), 1);
            __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(header));
            __m512 m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(header, 16)));
            tq_vnni_xlanes lanes = {_mm512_set1_ps(x[b].d),
                                    type == TQ_Q4_1 ? _mm512_set1_ps(x[b].d * (float)x[b].sum)
                                                    : _mm512_castsi512_ps(_mm512_set1_epi32(x[b].sum * (type == TQ_Q8_0 ? 128 : 8)))};
            acc = tq_vnni_fold(type, acc, sums[c], d, m, lanes);
        }
    }
    _mm512_mask_storeu_ps(y, (__mmask16)((1u << valid) - 1), acc);
}
#endif
#endif
