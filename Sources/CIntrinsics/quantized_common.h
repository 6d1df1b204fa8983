#ifndef TESSERA_QUANTIZED_COMMON_H
#define TESSERA_QUANTIZED_COMMON_H
/* Shared pieces of the quantized dot products (quantized_dot.h): the weight types, the 8-bit activation blocks,
   half-precision decoding and the activation quantizers. Block layouts are ggml's (ggml-common.h); all loads are
   byte-wise or unaligned, so weights may sit anywhere in a memory-mapped file. */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Weight types with a kernel; the Swift side maps DType onto these codes. */
enum {
    TQ_F32 = 0, TQ_F16 = 1, TQ_BF16 = 2, TQ_Q8_0 = 3, TQ_Q4_0 = 4, TQ_Q4_1 = 5, TQ_Q4_K = 6, TQ_Q6_K = 7,
    TQ_Q5_0 = 8
};

/* 32 activations quantized like ggml's Q8_0/Q8_1: value ≈ d * q[i]; sum = Σ q[i] (for the offsets of Q4_0 and
   Q5_0 and the minimum of Q4_1). d stays Float32 (ggml rounds it to Float16), which only makes the product more exact. */
typedef struct { float d; int32_t sum; int8_t q[32]; } tq_q8_32;

/* 256 activations quantized like ggml's Q8_K: value ≈ d * q[i]; sums[j] = Σ q[16j ..< 16j + 16] (for Q4_K's
   minimums and Q6_K's offset of 32). */
typedef struct { float d; int16_t sums[16]; int8_t q[256]; } tq_q8_256;

/* IEEE half → float, exact for every input (subnormals, infinities, NaN). */
static inline float tq_f16(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal: value = mantissa * 2^-24, exact in float */
        float value = (float)mantissa * 5.9604644775390625e-8f;
        return sign ? -value : value;
    }
    float result;
    memcpy(&result, &bits, 4);
    return result;
}

static inline float tq_bf16(const uint8_t *p) {
    uint32_t bits = (uint32_t)(p[0] | (p[1] << 8)) << 16;
    float result;
    memcpy(&result, &bits, 4);
    return result;
}

/* The scale and minimum of sub-block j (0..<8) of a Q4_K block from its 12 packed bytes: 6 bits each, the first
   four pairs in the low bits of bytes 0..<8, the last four split over bytes 8..<12 and the top bits of 0..<8. */
static inline void tq_q4k_scale_min(int j, const uint8_t *s, uint8_t *scale, uint8_t *minimum) {
    if (j < 4) {
        *scale = s[j] & 63;
        *minimum = s[j + 4] & 63;
    } else {
        *scale = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *minimum = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Quantizes n values (a multiple of `block`) to 8 bits with one scale per block: d = max|x| / 127, q = round(x / d). */
static inline void tq_quantize_block(const float *x, int block, float *d, int8_t *q) {
    float amax = 0;
    for (int i = 0; i < block; i++) amax = fmaxf(amax, fabsf(x[i]));
    *d = amax / 127.0f;
    float inverse = amax != 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < block; i++) q[i] = (int8_t)lrintf(x[i] * inverse);
}

static inline void tq_quantize_q8_32(const float *x, int n, tq_q8_32 *out) {
    for (int b = 0; b < n / 32; b++) {
        tq_quantize_block(x + 32 * b, 32, &out[b].d, out[b].q);
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) sum += out[b].q[i];
        out[b].sum = sum;
    }
}

static inline void tq_quantize_q8_256(const float *x, int n, tq_q8_256 *out) {
    for (int b = 0; b < n / 256; b++) {
        tq_quantize_block(x + 256 * b, 256, &out[b].d, out[b].q);
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += out[b].q[16 * j + i];
            out[b].sums[j] = (int16_t)sum;
        }
    }
}
#endif
