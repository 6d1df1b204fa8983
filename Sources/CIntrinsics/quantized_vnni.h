#ifndef TESSERA_QUANTIZED_VNNI_H
#define TESSERA_QUANTIZED_VNNI_H
/* Q8_0, Q4_0 and Q4_1 products with AVX-512 VNNI (vpdpbusd: unsigned × signed bytes, four products summed into
   each 32-bit lane), compiled for those instructions whatever the build's target and only called after a runtime
   check (quantized_dot.h).

   Outputs are computed sixteen at a time, one weight row per lane of a 512-bit register: sixteen weight rows against
   one activation row (quantized_vnni_row.h) or against up to eight (quantized_vnni_batch.h). Every lane performs the
   fold of quantized_portable.h for its (weight row, activation row) pair: per block, the exact integer sum, then
       acc = fma(d_w d_x, (float)sum', acc)            (Q8_0, Q4_0; sum' takes off the offset exactly)
       acc = fma(d_w d_x, (float)sum, acc); acc = fma(m_w, d_x (float)Σq_x, acc)    (Q4_1)
   in block order. So a lane's value does not depend on the tile it sits in, on the other rows, or on how many
   activation rows there are (batch invariance), and it equals the portable path bit for bit. */
#if defined(__x86_64__)
#include <stdlib.h>
#include "quantized_vnni_row.h"
#include "quantized_vnni_batch.h"
#include "quantized_vnni_interleaved.h"

/* Weight rows [rowBegin, rowEnd) against every activation row, sixteen weight rows at a time (the last row repeated
   past rowEnd, its lanes not stored): one activation row by tq_vnni_tile16, more by tq_vnni_tile16x eight at a time. */
TQ_VNNI static inline void tq_vnni_rows(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                                        size_t xRowBytes, int xRows, int n, float *y, size_t ldy) {
    const int blocks = n / 32;
    __m512i *values = NULL, index[2];
    int32_t *terms = NULL;
    if (xRows > 1) {
        terms = (int32_t *)malloc(sizeof(int32_t) * (size_t)xRows * (size_t)blocks);
        if (terms == NULL) abort(); /* four bytes per activation block */
        tq_vnni_batch_terms(type, x, xRowBytes, xRows, blocks, terms);
    } else {
        values = (__m512i *)aligned_alloc(64, sizeof(__m512i) * 2 * (size_t)((blocks + 3) / 4));
        if (values == NULL) abort(); /* 128 bytes per four blocks */
        tq_vnni_row_x(type, (const tq_q8_32 *)x, blocks, values);
        tq_vnni_row_index(type, index);
    }
    for (int first = rowBegin; first < rowEnd; first += 16) {
        const uint8_t *base = w + (size_t)first * rowBytes, *rows[16];
        int valid = rowEnd - first < 16 ? rowEnd - first : 16;
        for (int i = 0; i < 16; i++) rows[i] = base + (size_t)(i < valid ? i : valid - 1) * rowBytes;
        if (xRows == 1) {
            tq_vnni_tile16(type, base, rowBytes, valid, (const tq_q8_32 *)x, values, blocks, index, base + 16 * rowBytes,
                           16 * rowBytes, y + first);
            continue;
        }
        /* the rows four tiles ahead (at most 256 KiB of them), into the second-level cache: the products of eight
           activation rows take long enough per tile that one tile ahead into the first-level cache left them waiting
           on memory (C microbenchmark, SmolLM2's five matrix shapes × 8 rows from memory on one core: Q4_1 2.20 →
           1.99 ms, Q8_0 3.56 → 2.37 ms) */
        size_t aheadRows = 262144 / (16 * rowBytes) * 16;
        aheadRows = aheadRows < 16 ? 16 : aheadRows > 64 ? 64 : aheadRows;
        for (int t = 0; t < xRows; t += 8) {
            const tq_q8_32 *xs[8];
            const int32_t *ts[8];
            int count = tq_vnni_chunk(x, xRowBytes, xRows, terms, blocks, t, xs, ts);
            tq_vnni_tile16x_any(type, count, rows, valid, xs, ts, blocks, base + aheadRows * rowBytes,
                                y + (size_t)t * ldy + first, ldy);
        }
    }
    free(values);
    free(terms);
}

/* tq_rows for Q8_0, Q4_0 and Q4_1 on a row-major matrix, or on an interleaved one (quantized_interleave.h) when
   `interleaved`; returns 0 for the other types, which are left to the AVX2 path. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
static int tq_rows_vnni(int type, const uint8_t *w, size_t rowBytes, int rowBegin, int rowEnd, const uint8_t *x,
                        size_t xRowBytes, int xRows, int n, float *y, size_t ldy, int interleaved) {
    if (interleaved) TQ_VNNI_BY_TYPE(tq_vnni_rows_interleaved)
    TQ_VNNI_BY_TYPE(tq_vnni_rows)
}
#endif
#endif
