#ifndef TESSERA_QUANTIZED_AVX2_H
#define TESSERA_QUANTIZED_AVX2_H
/* The dot products of quantized_portable.h with AVX2, FMA and F16C, compiled for those instructions whatever the
   build's target (the functions carry the target attribute) and only called after a runtime check
   (quantized_dot.h). Each block's integer products come from vpmaddubsw (unsigned × signed bytes, pairs summed
   to 16 bits; every operand range used here keeps the pair sums below 2^15) and vpmaddwd, which also applies
   the 16-bit sub-block scales; each block then adds d_w d_x × its integer sums to eight Float32 lanes. */
#if defined(__x86_64__)
#include <immintrin.h>
#include "quantized_common.h"

#define TQ_AVX2 __attribute__((target("avx2,fma,f16c")))

TQ_AVX2 static inline float tq_hsum8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

TQ_AVX2 static inline float tq_f16_avx2(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Σ u[i] s[i] over 32 unsigned × signed bytes, as eight 32-bit lanes. */
TQ_AVX2 static inline __m256i tq_dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The 32 nibbles of 16 bytes in element order: low nibbles (elements 0..<16), then high (16..<32). */
TQ_AVX2 static inline __m256i tq_nibbles16(const uint8_t *p) {
    __m128i raw = _mm_loadu_si128((const __m128i *)p);
    __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(raw), _mm_srli_epi16(raw, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0xF));
}

/* F32, F16, BF16 rows: `load(i)` gives 8 weights as floats, `element` weight i of the tail; four accumulators
   hide the FMA latency. */
#define TQ_FLOAT_DOT(load, element)                                                                     \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                       \
    int i = 0;                                                                                         \
    for (; i + 32 <= n; i += 32) {                                                                     \
        a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);                                     \
        a1 = _mm256_fmadd_ps(load(i + 8), _mm256_loadu_ps(x + i + 8), a1);                             \
        a2 = _mm256_fmadd_ps(load(i + 16), _mm256_loadu_ps(x + i + 16), a2);                           \
        a3 = _mm256_fmadd_ps(load(i + 24), _mm256_loadu_ps(x + i + 24), a3);                           \
    }                                                                                                  \
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);              \
    float sum = tq_hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                 \
    for (; i < n; i++) sum += (element) * x[i];                                                         \
    return sum;

static inline float tq_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

#define TQ_LOAD_F32(i) _mm256_loadu_ps((const float *)(w + 4 * (i)))
#define TQ_LOAD_F16(i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * (i))))
#define TQ_LOAD_BF16(i) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * (i)))), 16))

TQ_AVX2 static inline float tq_dot_f32_avx2(const uint8_t *w, const float *x, int n) {
    TQ_FLOAT_DOT(TQ_LOAD_F32, tq_f32(w + 4 * i))
}

TQ_AVX2 static inline float tq_dot_f16_avx2(const uint8_t *w, const float *x, int n) {
    TQ_FLOAT_DOT(TQ_LOAD_F16, tq_f16(w + 2 * i))
}

TQ_AVX2 static inline float tq_dot_bf16_avx2(const uint8_t *w, const float *x, int n) {
    TQ_FLOAT_DOT(TQ_LOAD_BF16, tq_bf16(w + 2 * i))
}

/* Q8_0: signed × signed, made unsigned × signed by moving the weight's sign onto the activation. */
TQ_AVX2 static inline float tq_dot_q8_0_avx2(const uint8_t *w, const tq_q8_32 *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++, w += 34) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].q);
        __m256i dot = tq_dot_u8s8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(tq_f16_avx2(w) * x[b].d), _mm256_cvtepi32_ps(dot), acc);
    }
    return tq_hsum8(acc);
}

/* Q4_0: Σ nibble q_x, then the offset 8 Σ q_x per block. */
TQ_AVX2 static inline float tq_dot_q4_0_avx2(const uint8_t *w, const tq_q8_32 *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < n / 32; b++, w += 18) {
        __m256i dot = tq_dot_u8s8(tq_nibbles16(w + 2), _mm256_loadu_si256((const __m256i *)x[b].q));
        float scale = tq_f16_avx2(w) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(dot), acc);
        offsets += scale * (float)(8 * x[b].sum);
    }
    return tq_hsum8(acc) - offsets;
}

/* Q4_1: Σ nibble q_x, then the minimum m d_x Σ q_x per block. */
TQ_AVX2 static inline float tq_dot_q4_1_avx2(const uint8_t *w, const tq_q8_32 *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    float minimums = 0;
    for (int b = 0; b < n / 32; b++, w += 20) {
        __m256i dot = tq_dot_u8s8(tq_nibbles16(w + 4), _mm256_loadu_si256((const __m256i *)x[b].q));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(tq_f16_avx2(w) * x[b].d), _mm256_cvtepi32_ps(dot), acc);
        minimums += tq_f16_avx2(w + 2) * x[b].d * (float)x[b].sum;
    }
    return tq_hsum8(acc) + minimums;
}

/* Four activation rows against one weight row, each output computed exactly as the one-row function above computes
   it (same operations in the same order, so the same bits), the weight block decoded once for all four: the prefill
   path, where many activation rows pass over each weight row. */
TQ_AVX2 static inline void tq_dot4_q8_0_avx2(const uint8_t *w, const tq_q8_32 *x[4], int n, float out[4]) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < n / 32; b++, w += 34) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)(w + 2)), magnitude = _mm256_sign_epi8(qw, qw);
        float d = tq_f16_avx2(w);
        for (int k = 0; k < 4; k++) {
            __m256i dot = tq_dot_u8s8(magnitude, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x[k][b].q), qw));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[k][b].d), _mm256_cvtepi32_ps(dot), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = tq_hsum8(acc[k]);
}

TQ_AVX2 static inline void tq_dot4_q4_0_avx2(const uint8_t *w, const tq_q8_32 *x[4], int n, float out[4]) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offsets[4] = {0, 0, 0, 0};
    for (int b = 0; b < n / 32; b++, w += 18) {
        __m256i nibbles = tq_nibbles16(w + 2);
        float d = tq_f16_avx2(w);
        for (int k = 0; k < 4; k++) {
            __m256i dot = tq_dot_u8s8(nibbles, _mm256_loadu_si256((const __m256i *)x[k][b].q));
            float scale = d * x[k][b].d;
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(dot), acc[k]);
            offsets[k] += scale * (float)(8 * x[k][b].sum);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = tq_hsum8(acc[k]) - offsets[k];
}

TQ_AVX2 static inline void tq_dot4_q4_1_avx2(const uint8_t *w, const tq_q8_32 *x[4], int n, float out[4]) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float minimums[4] = {0, 0, 0, 0};
    for (int b = 0; b < n / 32; b++, w += 20) {
        __m256i nibbles = tq_nibbles16(w + 4);
        float d = tq_f16_avx2(w), m = tq_f16_avx2(w + 2);
        for (int k = 0; k < 4; k++) {
            __m256i dot = tq_dot_u8s8(nibbles, _mm256_loadu_si256((const __m256i *)x[k][b].q));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[k][b].d), _mm256_cvtepi32_ps(dot), acc[k]);
            minimums[k] += m * x[k][b].d * (float)x[k][b].sum;
        }
    }
    for (int k = 0; k < 4; k++) out[k] = tq_hsum8(acc[k]) + minimums[k];
}

/* The 32 fifth bits of a Q5_0 block as bytes 0x10 (bit set) or 0: every byte picks its source byte of the word
   (lane 0 bytes 0 and 1, lane 1 bytes 2 and 3) and tests its own bit. */
TQ_AVX2 static inline __m256i tq_fifth_bits(const uint8_t *p) {
    uint32_t word;
    memcpy(&word, p, 4);
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)word), pick);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Q5_0: Σ q q_x with q = nibble | fifth bit, then the offset 16 Σ q_x per block. */
TQ_AVX2 static inline float tq_dot_q5_0_avx2(const uint8_t *w, const tq_q8_32 *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < n / 32; b++, w += 22) {
        __m256i q = _mm256_or_si256(tq_nibbles16(w + 6), tq_fifth_bits(w + 2));
        __m256i dot = tq_dot_u8s8(q, _mm256_loadu_si256((const __m256i *)x[b].q));
        float scale = tq_f16_avx2(w) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(dot), acc);
        offsets += scale * (float)(16 * x[b].sum);
    }
    return tq_hsum8(acc) - offsets;
}

/* Q4_K: per 32 bytes of nibbles, the low nibbles (sub-block 2c) and high nibbles (2c + 1) against their 32
   activations; vpmaddwd with the 6-bit scale sums the pairs and scales them at once. */
TQ_AVX2 static inline float tq_dot_q4_k_avx2(const uint8_t *w, const tq_q8_256 *x, int n) {
    const __m256i low = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    float minimums = 0;
    for (int b = 0; b < n / 256; b++, w += 144) {
        uint8_t scales[8], mins[8];
        int32_t minimum = 0;
        for (int j = 0; j < 8; j++) {
            tq_q4k_scale_min(j, w + 4, &scales[j], &mins[j]);
            minimum += mins[j] * (x[b].sums[2 * j] + x[b].sums[2 * j + 1]);
        }
        __m256i sum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * c));
            __m256i q0 = _mm256_and_si256(raw, low), q1 = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low);
            __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(x[b].q + 64 * c)));
            __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(x[b].q + 64 * c + 32)));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, _mm256_set1_epi16(scales[2 * c])));
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, _mm256_set1_epi16(scales[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(tq_f16_avx2(w) * x[b].d), _mm256_cvtepi32_ps(sum), acc);
        minimums += tq_f16_avx2(w + 2) * x[b].d * (float)minimum;
    }
    return tq_hsum8(acc) - minimums;
}

/* Q6_K: each half (128 elements) rebuilds four vectors of 32 six-bit values from 64 bytes of ql and 32 of qh;
   each 32-value vector spans two sub-blocks of 16, whose scales fill the two 128-bit lanes. */
TQ_AVX2 static inline float tq_dot_q6_k_avx2(const uint8_t *w, const tq_q8_256 *x, int n) {
    const __m256i low = _mm256_set1_epi8(0xF), two = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < n / 256; b++, w += 210) {
        const int8_t *scales = (const int8_t *)(w + 192);
        int32_t offset = 0;
        for (int s = 0; s < 16; s++) offset += scales[s] * x[b].sums[s];
        __m256i sum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            __m256i a = _mm256_loadu_si256((const __m256i *)ql), c = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(a, low), _mm256_slli_epi16(_mm256_and_si256(hb, two), 4)),
                _mm256_or_si256(_mm256_and_si256(c, low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4)),
            };
            for (int k = 0; k < 4; k++) {
                const int8_t *sc = scales + 8 * h + 2 * k;
                __m256i scale = _mm256_inserti128_si256(
                    _mm256_castsi128_si256(_mm_set1_epi16(sc[0])), _mm_set1_epi16(sc[1]), 1);
                __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(x[b].q + 128 * h + 32 * k)));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, scale));
            }
        }
        float scale = tq_f16_avx2(w + 208) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(sum), acc);
        offsets += scale * (float)(32 * offset);
    }
    return tq_hsum8(acc) - offsets;
}
#endif
#endif
