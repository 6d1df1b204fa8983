#ifndef TESSERA_QUANTIZED_VNNI_INTERLEAVED_H
#define TESSERA_QUANTIZED_VNNI_INTERLEAVED_H
/* Sixteen weight rows of an interleaved matrix (quantized_interleave.h) against one to eight activation rows with
   AVX-512 VNNI. A block of sixteen rows is four registers of quantized bytes (eight for Q8_0, already flipped to
   unsigned) and one or two registers of scales, read in address order: what quantized_vnni_batch.h assembles from
   sixteen row streams with loads, inserts and unpacks on every block is here a plain load. Each activation row then
   takes its eight vpdpbusd and one fold exactly as there (tq_vnni_columns), so every output equals the portable
   path's bit for bit, whatever the layout, the tile or the other rows. */
#if defined(__x86_64__)
#include <stdlib.h>
#include "quantized_interleave.h"
#include "quantized_vnni_batch.h"

/* With four or more activation rows a block takes long enough that the hardware prefetchers alone leave the tile
   waiting on memory: the tile prefetches the block TQ_VNNI_IL_AHEAD blocks ahead into the first-level cache (C
   microbenchmark of tq_rows_interleaved, SmolLM2's five Q4_1 shapes × 30 copies, 71 MB from memory, one core of this
   project's 2-core AMD EPYC, Zen 4: 8 activation rows 9.6 → 6.8 ms, 4 rows 4.9 → 4.5 ms; with 1 or 2 rows, whose
   blocks stream at memory speed, prefetching made them slower, 3.5–3.7 → 4.0–5.3 ms). Prefetching never faults, so
   it may run past the matrix. */
#define TQ_VNNI_IL_PREFETCH_COUNT 4
#define TQ_VNNI_IL_AHEAD 6

/* The interleaved group at `group` (`blocks` blocks) times `count` activation rows into y[t ldy + i] for the lanes
   i in `stored`. */
TQ_VNNI static inline void tq_vnni_tile16i(int type, int count, const uint8_t *group, __mmask16 stored, const tq_q8_32 *const x[8],
                                           const int32_t *const terms[8], int blocks, float *y, size_t ldy) {
    const size_t blockBytes = 16 * (size_t)TQ_VNNI_BLOCK_BYTES(type);
    const int quants = type == TQ_Q8_0 ? 32 : 16;
    const __m512i low = _mm512_set1_epi8(0xF);
    __m512 acc[8];
    #pragma clang loop unroll(full)
    for (int t = 0; t < count; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (size_t)b * blockBytes;
        if (count >= TQ_VNNI_IL_PREFETCH_COUNT) {
            for (size_t at = 0; at < blockBytes; at += 64) _mm_prefetch((const char *)(block + TQ_VNNI_IL_AHEAD * blockBytes + at), _MM_HINT_T0);
        }
        __m512i wb[8];
        if (type == TQ_Q8_0) {
            #pragma clang loop unroll(full)
            for (int j = 0; j < 8; j++) wb[j] = _mm512_loadu_si512(block + 64 * j);
        } else {
            #pragma clang loop unroll(full)
            for (int k = 0; k < 4; k++) {
                __m512i raw = _mm512_loadu_si512(block + 64 * k);
                wb[k] = _mm512_and_si512(raw, low);
                wb[k + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low);
            }
        }
        __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(block + 16 * quants)));
        __m512 m = type == TQ_Q4_1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(block + 16 * quants + 32))) : d;
        tq_vnni_columns(type, count, wb, d, m, x, terms, b, acc);
    }
    #pragma clang loop unroll(full)
    for (int t = 0; t < count; t++) _mm512_mask_storeu_ps(y + (size_t)t * ldy, stored, acc[t]);
}

/* Rows [rowBegin, rowEnd) of the interleaved matrix at `w` against every activation row (`xRows` of them,
   `xRowBytes` apart), as tq_rows computes them: y[t ldy + r]. A range that starts or ends inside a group computes the
   whole group and stores only its own lanes. */
TQ_VNNI static inline void tq_vnni_rows_interleaved(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                                                    size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    const int blocks = n / 32;
    int32_t *terms = (int32_t *)malloc(sizeof(int32_t) * (size_t)xRows * (size_t)blocks);
    if (terms == NULL) abort(); /* four bytes per activation block */
    tq_vnni_batch_terms(type, x, xRowBytes, xRows, blocks, terms);
    for (int group = rowBegin / 16; 16 * group < rowEnd; group++) {
        int first = rowBegin > 16 * group ? rowBegin - 16 * group : 0, end = rowEnd - 16 * group < 16 ? rowEnd - 16 * group : 16;
        __mmask16 stored = (__mmask16)(((1u << end) - 1) & ~((1u << first) - 1));
        const uint8_t *base = w + (size_t)group * 16 * rowBytes;
        for (int t = 0; t < xRows; t += 8) {
            const tq_q8_32 *xs[8];
            const int32_t *ts[8];
            int count = tq_vnni_chunk(x, xRowBytes, xRows, terms, blocks, t, xs, ts);
#define TQ_VNNI_TILE16I(c, ...) tq_vnni_tile16i(type, c, __VA_ARGS__)
            TQ_VNNI_BY_COUNT(count, TQ_VNNI_TILE16I, base, stored, xs, ts, blocks, y + (size_t)t * ldy + 16 * group, ldy)
#undef TQ_VNNI_TILE16I
        }
    }
    free(terms);
}

#endif
#endif
