#ifndef TESSERA_QUANTIZED_PORTABLE_H
#define TESSERA_QUANTIZED_PORTABLE_H
/* Dot products of one weight row with one activation row in plain C: the path for every CPU, and the reference
   the vector paths are tested against. Integer sums per block are exact; each block adds its scaled sum to one
   Float32 accumulator. `n` is the row length in elements. Q8_0, Q4_0 and Q4_1 fold each block with fused
   multiply-adds in the order quantized_vnni.h performs lane by lane, so that path equals this one bit for bit. */
#include "quantized_common.h"

static inline float tq_dot_f32_portable(const uint8_t *w, const float *x, int n) {
    float sum = 0;
    for (int i = 0; i < n; i++) {
        float v;
        memcpy(&v, w + 4 * i, 4);
        sum += v * x[i];
    }
    return sum;
}

static inline float tq_dot_f16_portable(const uint8_t *w, const float *x, int n) {
    float sum = 0;
    for (int i = 0; i < n; i++) sum += tq_f16(w + 2 * i) * x[i];
    return sum;
}

static inline float tq_dot_bf16_portable(const uint8_t *w, const float *x, int n) {
    float sum = 0;
    for (int i = 0; i < n; i++) sum += tq_bf16(w + 2 * i) * x[i];
    return sum;
}

/* Q8_0: half d, 32 signed bytes. */
static inline float tq_dot_q8_0_portable(const uint8_t *w, const tq_q8_32 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 32; b++, w += 34) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += (int8_t)w[2 + i] * x[b].q[i];
        sum = fmaf(tq_f16(w) * x[b].d, (float)s, sum);
    }
    return sum;
}

/* Σ nibble q over a block of 32: byte j of `qs` holds element j (low nibble) and j + 16 (high). */
static inline int32_t tq_nibble_dot(const uint8_t *qs, const int8_t *q) {
    int32_t s = 0;
    for (int j = 0; j < 16; j++) s += (qs[j] & 0xF) * q[j] + (qs[j] >> 4) * q[j + 16];
    return s;
}

/* Q4_0: half d, 16 bytes of nibbles; value = (nibble − 8) d. */
static inline float tq_dot_q4_0_portable(const uint8_t *w, const tq_q8_32 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 32; b++, w += 18) sum = fmaf(tq_f16(w) * x[b].d, (float)(tq_nibble_dot(w + 2, x[b].q) - 8 * x[b].sum), sum);
    return sum;
}

/* Q4_1: half d, half m, 16 bytes of nibbles; value = nibble d + m. */
static inline float tq_dot_q4_1_portable(const uint8_t *w, const tq_q8_32 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 32; b++, w += 20) {
        sum = fmaf(tq_f16(w) * x[b].d, (float)tq_nibble_dot(w + 4, x[b].q), sum);
        sum = fmaf(tq_f16(w + 2), x[b].d * (float)x[b].sum, sum);
    }
    return sum;
}

/* Q5_0: half d, 32 fifth bits (bit j of a little-endian word for element j), 16 bytes of low nibbles as Q4_0;
   value = (q − 16) d. */
static inline float tq_dot_q5_0_portable(const uint8_t *w, const tq_q8_32 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 32; b++, w += 22) {
        uint32_t high = (uint32_t)w[2] | (uint32_t)w[3] << 8 | (uint32_t)w[4] << 16 | (uint32_t)w[5] << 24;
        int32_t s = tq_nibble_dot(w + 6, x[b].q);
        for (int j = 0; j < 32; j++) s += (int32_t)((high >> j) & 1) * 16 * x[b].q[j];
        sum += tq_f16(w) * x[b].d * (float)(s - 16 * x[b].sum);
    }
    return sum;
}

/* Q4_K: half d, half dmin, 12 bytes of 6-bit scales and minimums, 128 bytes of nibbles. Each 32 bytes of nibbles
   hold 64 elements: the low nibbles sub-block 2c, the high nibbles sub-block 2c + 1; value = d sc q − dmin m. */
static inline float tq_dot_q4_k_portable(const uint8_t *w, const tq_q8_256 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 256; b++, w += 144) {
        const uint8_t *qs = w + 16;
        int32_t scaled = 0, minimums = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t scale, minimum;
            tq_q4k_scale_min(j, w + 4, &scale, &minimum);
            const uint8_t *q = qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            int32_t s = 0;
            for (int l = 0; l < 32; l++) s += ((q[l] >> shift) & 0xF) * x[b].q[32 * j + l];
            scaled += scale * s;
            minimums += minimum * (x[b].sums[2 * j] + x[b].sums[2 * j + 1]);
        }
        sum += tq_f16(w) * x[b].d * (float)scaled - tq_f16(w + 2) * x[b].d * (float)minimums;
    }
    return sum;
}

/* The 6-bit value of element e (0..<256) of a Q6_K block, before the offset of 32: the low 4 bits from ql, the
   high 2 from qh, as ggml's dequantize_row_q6_K lays them out. */
static inline int tq_q6k_value(const uint8_t *w, int e) {
    const uint8_t *ql = w + 64 * (e / 128), *qh = w + 128 + 32 * (e / 128);
    int r = e % 128, l = r % 32, quarter = r / 32;
    int low = (quarter & 1) ? ql[l + 32] : ql[l];
    low = quarter >= 2 ? low >> 4 : low & 0xF;
    return low | (((qh[l] >> (2 * quarter)) & 3) << 4);
}

/* Q6_K: 128 bytes ql, 64 bytes qh, 16 signed scales, half d; value = d sc[e / 16] (q − 32). */
static inline float tq_dot_q6_k_portable(const uint8_t *w, const tq_q8_256 *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / 256; b++, w += 210) {
        const int8_t *scales = (const int8_t *)(w + 192);
        int32_t total = 0;
        for (int s = 0; s < 16; s++) {
            int32_t dot = 0;
            for (int i = 0; i < 16; i++) dot += tq_q6k_value(w, 16 * s + i) * x[b].q[16 * s + i];
            total += scales[s] * (dot - 32 * x[b].sums[s]);
        }
        sum += tq_f16(w + 208) * x[b].d * (float)total;
    }
    return sum;
}
#endif
