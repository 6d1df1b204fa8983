#ifndef TESSERA_QUANTIZED_INTERLEAVE_H
#define TESSERA_QUANTIZED_INTERLEAVE_H
/* The interleaved layout of Q8_0, Q4_0 and Q4_1 matrices: the layout the AVX-512 VNNI kernels read
   (quantized_vnni_interleaved.h), made once when a model loads, as llama.cpp's CPU "repack" buffers do for its own
   kernels.

   Rows are taken sixteen at a time (a group; the last group of a matrix whose rows are not a multiple of sixteen is
   padded with zero bytes). A group occupies the same 16 · rowBytes bytes its rows do in ggml's row-major layout, so
   row 16g starts group g at byte 16g · rowBytes either way. Within a group, block b (16 · blockBytes bytes at
   16 b · blockBytes) holds the sixteen rows' block b as
       quants: word k (four bytes: values' bytes 4k ..< 4k + 4 of the block) of row i at byte 64k + 4i
               (16 bytes a row, four 64-byte registers, for the 4-bit types; 32 bytes a row, eight registers, for
               Q8_0, whose bytes are stored flipped to w + 128, the unsigned operand vpdpbusd takes)
       then the sixteen rows' scales d (Float16, row i at 2i), then for Q4_1 their minimums m (Float16, 2i)
   so one block of sixteen rows is read as whole registers in address order: no transposition, no gathered scales,
   one stream per tile. Bytes are only moved (and Q8_0's flipped), never re-rounded, so decoding a row of either
   layout gives the same values. */
#include "quantized_common.h"

/* Whether `type` has an interleaved layout. */
static inline int tq_interleaves(int type) { return type == TQ_Q8_0 || type == TQ_Q4_0 || type == TQ_Q4_1; }

/* Bytes of one row's block, of its header (the scale, and Q4_1's minimum) and of its quantized values. */
static inline int tq_il_block_bytes(int type) { return type == TQ_Q8_0 ? 34 : type == TQ_Q4_0 ? 18 : 20; }
static inline int tq_il_header_bytes(int type) { return type == TQ_Q4_1 ? 4 : 2; }
static inline int tq_il_quant_bytes(int type) { return type == TQ_Q8_0 ? 32 : 16; }

/* Rows [0, count) of row-major `rows` (`rowBytes` apart, count ≤ 16) as one interleaved group at `out`
   (16 · rowBytes bytes); lanes at and past `count` are zero bytes. */
static inline void tq_interleave16(int type, const uint8_t *rows, size_t rowBytes, int count, uint8_t *out) {
    const int blockBytes = tq_il_block_bytes(type), quants = tq_il_quant_bytes(type), header = tq_il_header_bytes(type);
    const uint32_t flip = type == TQ_Q8_0 ? 0x80808080u : 0;
    const size_t blocks = rowBytes / (size_t)blockBytes;
    memset(out, 0, 16 * rowBytes);
    for (size_t b = 0; b < blocks; b++) {
        uint8_t *block = out + 16 * b * (size_t)blockBytes;
        for (int i = 0; i < count; i++) {
            const uint8_t *source = rows + (size_t)i * rowBytes + b * (size_t)blockBytes;
            for (int k = 0; k < quants / 4; k++) {
                uint32_t word;
                memcpy(&word, source + header + 4 * k, 4);
                word ^= flip;
                memcpy(block + 64 * k + 4 * i, &word, 4);
            }
            memcpy(block + 16 * quants + 2 * i, source, 2);
            if (type == TQ_Q4_1) memcpy(block + 16 * quants + 32 + 2 * i, source + 2, 2);
        }
    }
}

/* Lanes [first, end) of the interleaved group at `group` back in ggml's row-major layout: lane i into
   out + (i − first) · rowBytes. */
static inline void tq_deinterleave16(int type, const uint8_t *group, size_t rowBytes, int first, int end, uint8_t *out) {
    const int blockBytes = tq_il_block_bytes(type), quants = tq_il_quant_bytes(type), header = tq_il_header_bytes(type);
    const uint32_t flip = type == TQ_Q8_0 ? 0x80808080u : 0;
    const size_t blocks = rowBytes / (size_t)blockBytes;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = group + 16 * b * (size_t)blockBytes;
        for (int i = first; i < end; i++) {
            uint8_t *target = out + (size_t)(i - first) * rowBytes + b * (size_t)blockBytes;
            for (int k = 0; k < quants / 4; k++) {
                uint32_t word;
                memcpy(&word, block + 64 * k + 4 * i, 4);
                word ^= flip;
                memcpy(target + header + 4 * k, &word, 4);
            }
            memcpy(target, block + 16 * quants + 2 * i, 2);
            if (type == TQ_Q4_1) memcpy(target + 2, block + 16 * quants + 32 + 2 * i, 2);
        }
    }
}

/* Rows [0, rows) of row-major `w` as interleaved groups at `out` (⌈rows / 16⌉ · 16 · rowBytes bytes). */
static inline void tq_interleave(int type, const void *w, size_t rowBytes, int rows, void *out) {
    for (int first = 0; first < rows; first += 16) {
        int count = rows - first < 16 ? rows - first : 16;
        tq_interleave16(type, (const uint8_t *)w + (size_t)first * rowBytes, rowBytes, count, (uint8_t *)out + (size_t)first * rowBytes);
    }
}

/* Rows [rowBegin, rowEnd) of the interleaved matrix at `w` back in row-major layout at `out` (row rowBegin first). */
static inline void tq_deinterleave(int type, const void *w, size_t rowBytes, int rowBegin, int rowEnd, void *out) {
    for (int row = rowBegin; row < rowEnd;) {
        int group = row / 16, end = 16 * group + 16 < rowEnd ? 16 * group + 16 : rowEnd;
        tq_deinterleave16(type, (const uint8_t *)w + (size_t)group * 16 * rowBytes, rowBytes, row - 16 * group, end - 16 * group,
                          (uint8_t *)out + (size_t)(row - rowBegin) * rowBytes);
        row = end;
    }
}
#endif
