#ifndef TESSERA_PAGED_ATTENTION_H
#define TESSERA_PAGED_ATTENTION_H
/* The inner loop of decoding attention over a paged key/value pool (Kernels.pagedAttention in Swift): one key/value
   head of one sequence over a range of its positions, for every query vector of the head's group (every query head
   and every query row) at once, so each cached row is read, and decoded, once per call.

   Positions are taken TPA_ROWS at a time within a block (groups start at the block's first row). For each group
   and each query vector, in a fixed order that depends only on the positions: the scores scale * (q . k_r), each a
   fused-multiply-add chain over the head dimension; the online softmax update of the vector's running maximum m,
   sum l and output o (o = o * e^(m_old - m) + sum_r e^(s_r - m) v_r, rows in position order). So a query vector's
   numbers depend on nothing else in the call (batch invariance). The AVX-512 path (AVX-512 F/BW/VL/DQ with FMA and
   F16C, run only after the runtime check) sums each dot product's 16 lanes by a fixed tree and converts F16 rows with
   vcvtph2ps; the portable path sums in element order. F16 and Q8_0 rows decode to exactly the floats
   Quantization.decode gives, so they give the bits F32 rows holding those floats give. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "quantized_common.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { TPA_PATH_PORTABLE = 0, TPA_PATH_AVX512 = 1 };
/* Positions scored together (one per lane of a 512-bit register). */
#define TPA_ROWS 16

/* One sequence's cached keys and values of one layer: position p is row p % blockSize of block blocks[p / blockSize],
   whose bytes start blocks[..] * blockStride + layerOffset + row * rowBytes after keys (and values); the head's
   values are elements headOffset ..< headOffset + headDim of the row, stored as type (TQ_F32, TQ_F16 or TQ_Q8_0). */
typedef struct {
    const uint8_t *keys, *values;
    const long *blocks;
    long blockStride, layerOffset, rowBytes;
    int blockSize, type, headOffset;
} tpa_cache;

/* A key/value head's query vectors: heads x rows, vector (i, g) at q + i * qStride + g * headDim; query row i sees
   positions 0 ... start + i. */
typedef struct {
    const float *q;
    long qStride;
    int heads, rows, start, headDim;
    float scale;
} tpa_queries;

static inline int tpa_has_avx512(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

/* Elements first ..< first + count of a stored row as Float32, the values Quantization.decode gives. */
static inline void tpa_decode_portable(const uint8_t *row, int type, int first, int count, float *out) {
    if (type == TQ_F16) {
        for (int e = 0; e < count; e++) out[e] = tq_f16(row + 2 * (size_t)(first + e));
    } else if (type == TQ_Q8_0) {
        for (int e = 0; e < count; e++) {
            const uint8_t *block = row + 34 * (size_t)((first + e) >> 5);
            out[e] = (float)(int8_t)block[2 + ((first + e) & 31)] * tq_f16(block);
        }
    } else {
        memcpy(out, row + 4 * (size_t)first, 4 * (size_t)count);
    }
}

/* The first byte of position p's row in base (c->keys or c->values). */
static inline const uint8_t *tpa_row(const tpa_cache *c, const uint8_t *base, long p) {
    return base + c->blocks[p / c->blockSize] * c->blockStride + c->layerOffset + (p % c->blockSize) * c->rowBytes;
}

/* Resets the running state of n query vectors: o = 0, m = -inf, l = 0, each vector's headDim + 2 floats. */
static inline void tpa_reset(float *states, int n, int d) {
    for (int v = 0; v < n; v++) {
        float *s = states + (size_t)v * (d + 2);
        memset(s, 0, sizeof(float) * (size_t)d);
        s[d] = -INFINITY;
        s[d + 1] = 0;
    }
}

/* Asks for the head slices (headDim values from c->headOffset) of the keys and values of positions
   first ..< min(first + TPA_ROWS, end), so the next group's rows arrive while this group's are folded. A hint only:
   the results do not depend on it. */
static inline void tpa_prefetch(const tpa_cache *c, long first, long end, int d) {
    size_t offset, bytes;
    if (c->type == TQ_F16) (offset = 2 * (size_t)c->headOffset, bytes = 2 * (size_t)d);
    else if (c->type == TQ_Q8_0) (offset = 34 * (size_t)(c->headOffset / 32), bytes = 34 * (size_t)((d + 31) / 32));
    else (offset = 4 * (size_t)c->headOffset, bytes = 4 * (size_t)d);
    for (long p = first; p < end && p < first + TPA_ROWS; p++) {
        const uint8_t *key = tpa_row(c, c->keys, p) + offset, *value = tpa_row(c, c->values, p) + offset;
        for (size_t b = 0; b < bytes; b += 64) {
            __builtin_prefetch(key + b, 0, 3);
            __builtin_prefetch(value + b, 0, 3);
        }
    }
}

/* The loop shared by both paths: groups of rows, each decoded once (DECODE) and folded into every query vector that
   sees them (STEP), the next group's rows prefetched first. */
#define TPA_ATTEND(DECODE, STEP, D)                                                                                    \
    tpa_reset(states, qs->rows * qs->heads, D);                                                                        \
    for (long first = begin; first < end;) {                                                                           \
        long inBlock = c->blockSize - first % c->blockSize, left = end - first;                                        \
        int count = (int)(inBlock < left ? inBlock : left);                                                            \
        if (count > TPA_ROWS) count = TPA_ROWS;                                                                        \
        const float *k, *v;                                                                                            \
        long stride;                                                                                                   \
        const uint8_t *keyRow = tpa_row(c, c->keys, first), *valueRow = tpa_row(c, c->values, first);                  \
        tpa_prefetch(c, first + count, end, D);                                                                        \
        if (c->type == TQ_F32) {                                                                                       \
            k = (const float *)keyRow + c->headOffset;                                                                 \
            v = (const float *)valueRow + c->headOffset;                                                               \
            stride = c->rowBytes / 4;                                                                                  \
        } else {                                                                                                       \
            for (int r = 0; r < count; r++) {                                                                          \
                DECODE(keyRow + r * c->rowBytes, c->type, c->headOffset, D, keyRows + (size_t)r * (D));                \
                DECODE(valueRow + r * c->rowBytes, c->type, c->headOffset, D, valueRows + (size_t)r * (D));            \
            }                                                                                                          \
            (k = keyRows, v = valueRows, stride = D);                                                                  \
        }                                                                                                              \
        for (int i = 0; i < qs->rows; i++) {                                                                           \
            long seen = qs->start + i + 1 - first;                                                                     \
            if (seen <= 0) continue;                                                                                   \
            int visible = seen < count ? (int)seen : count;                                                            \
            for (int g = 0; g < qs->heads; g++) {                                                                      \
                float *s = states + (size_t)(i * qs->heads + g) * ((D) + 2);                                           \
                STEP(qs->q + i * qs->qStride + (size_t)g * (D), k, v, stride, visible, D, qs->scale, s);               \
            }                                                                                                          \
        }                                                                                                              \
        first += count;                                                                                                \
    }

/* One query vector over `visible` (<= TPA_ROWS) rows, portable: dot products in element order, libm's expf. */
static inline void tpa_step_portable(const float *q, const float *k, const float *v, long stride, int visible, int d,
                                     float scale, float *state) {
    float scores[TPA_ROWS], top = state[d];
    for (int r = 0; r < visible; r++) {
        float dot = 0;
        for (int e = 0; e < d; e++) dot = fmaf(q[e], k[r * stride + e], dot);
        scores[r] = scale * dot;
        top = fmaxf(top, scores[r]);
    }
    float correction = expf(state[d] - top), sum = 0;
    for (int r = 0; r < visible; r++) {
        scores[r] = expf(scores[r] - top);
        sum += scores[r];
    }
    state[d] = top;
    state[d + 1] = state[d + 1] * correction + sum;
    for (int e = 0; e < d; e++) {
        float o = state[e] * correction;
        for (int r = 0; r < visible; r++) o = fmaf(scores[r], v[r * stride + e], o);
        state[e] = o;
    }
}

/* Positions begin ..< end of key/value head c for every vector of qs; vector (i, g)'s state (o[headDim], m, l) at
   states + (i * heads + g) * (headDim + 2). keyRows and valueRows hold TPA_ROWS * headDim floats each (decoded rows). */
static inline void tpa_attend_portable(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states,
                                       float *keyRows, float *valueRows) {
    int d = qs->headDim;
    TPA_ATTEND(tpa_decode_portable, tpa_step_portable, d)
}

#if defined(__x86_64__)
#define TPA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))

/* tpa_decode_portable with vcvtph2ps for F16 and a Q8_0 block at a time when the slice starts a block. */
TPA_AVX512 static inline void tpa_decode_avx512(const uint8_t *row, int type, int first, int count, float *out) {
    if (type == TQ_F16) {
        int e = 0;
        for (; e + 16 <= count; e += 16)
            _mm512_storeu_ps(out + e, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * (size_t)(first + e)))));
        if (e < count) {
            __mmask16 m = (__mmask16)((1u << (count - e)) - 1);
            _mm512_mask_storeu_ps(out + e, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * (size_t)(first + e))));
        }
    } else if (type == TQ_Q8_0 && first % 32 == 0 && count % 32 == 0) {
        for (int b = 0; b < count / 32; b++) {
            const uint8_t *block = row + 34 * (size_t)(first / 32 + b);
            __m512 scale = _mm512_set1_ps(tq_f16(block));
            __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 2))));
            __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 18))));
            _mm512_storeu_ps(out + 32 * b, _mm512_mul_ps(low, scale));
            _mm512_storeu_ps(out + 32 * b + 16, _mm512_mul_ps(high, scale));
        }
    } else {
        tpa_decode_portable(row, type, first, count, out);
    }
}

/* Lane r = the sum of a[r]'s 16 lanes, for 16 registers, by a fixed tree: pairs within 128-bit lanes, then across. */
TPA_AVX512 static inline __m512 tpa_sum16(const __m512 *a) {
    __m512 pairs[8], quads[4], halves[2];
    for (int j = 0; j < 8; j++)
        pairs[j] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * j], a[2 * j + 1]), _mm512_unpackhi_ps(a[2 * j], a[2 * j + 1]));
    for (int j = 0; j < 4; j++) {
        __m512d x = _mm512_castps_pd(pairs[2 * j]), y = _mm512_castps_pd(pairs[2 * j + 1]);
        quads[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int j = 0; j < 2; j++)
        halves[j] = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2 * j], quads[2 * j + 1], 0x88),
                                  _mm512_shuffle_f32x4(quads[2 * j], quads[2 * j + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(halves[0], halves[1], 0x88), _mm512_shuffle_f32x4(halves[0], halves[1], 0xDD));
}

/* e^x for x <= 0, within about 2 ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r by the degree-7 polynomial of Cephes'
   expf (coefficients recalled from the Cephes library, checked against libm by the Swift tests), times 2^n by
   vscalefps (which underflows to 0 below about -104). */
TPA_AVX512 static inline __m512 tpa_exp512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* tpa_step_portable with 16-lane fused products summed by tpa_sum16 and the output updated 64 values at a time. */
__attribute__((always_inline)) TPA_AVX512 static inline void tpa_step_avx512(const float *q, const float *k, const float *v,
                                                                          long stride, int visible, int d, float scale,
                                                                          float *state) {
    int full = d & ~15;
    __mmask16 tail = (__mmask16)((1u << (d - full)) - 1), live = (__mmask16)(visible >= 16 ? 0xFFFF : (1u << visible) - 1);
    __m512 dots[TPA_ROWS];
    for (int r = 0; r < TPA_ROWS; r++) {
        __m512 a = _mm512_setzero_ps();
        if (r < visible) {
            const float *row = k + r * stride;
            for (int e = 0; e < full; e += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + e), _mm512_loadu_ps(row + e), a);
            if (tail) a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full), _mm512_maskz_loadu_ps(tail, row + full), a);
        }
        dots[r] = a;
    }
    __m512 scores = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live, _mm512_mul_ps(tpa_sum16(dots), _mm512_set1_ps(scale)));
    float previous = state[d], top = fmaxf(previous, _mm512_reduce_max_ps(scores));
    __m512 p = _mm512_maskz_mov_ps(live, tpa_exp512(_mm512_sub_ps(scores, _mm512_set1_ps(top))));
    float correction = expf(previous - top), weights[TPA_ROWS];
    _mm512_storeu_ps(weights, p);
    state[d] = top;
    state[d + 1] = state[d + 1] * correction + _mm512_reduce_add_ps(p);
    __m512 scaleBy = _mm512_set1_ps(correction);
    int e = 0;
    for (; e + 64 <= d; e += 64) {
        __m512 o0 = _mm512_mul_ps(_mm512_loadu_ps(state + e), scaleBy), o1 = _mm512_mul_ps(_mm512_loadu_ps(state + e + 16), scaleBy);
        __m512 o2 = _mm512_mul_ps(_mm512_loadu_ps(state + e + 32), scaleBy), o3 = _mm512_mul_ps(_mm512_loadu_ps(state + e + 48), scaleBy);
        for (int r = 0; r < visible; r++) {
            __m512 w = _mm512_set1_ps(weights[r]);
            const float *row = v + r * stride + e;
            o0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(row), o0);
            o1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(row + 16), o1);
            o2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(row + 32), o2);
            o3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(row + 48), o3);
        }
        _mm512_storeu_ps(state + e, o0);
        _mm512_storeu_ps(state + e + 16, o1);
        _mm512_storeu_ps(state + e + 32, o2);
        _mm512_storeu_ps(state + e + 48, o3);
    }
    for (; e < d; e += 16) {
        __mmask16 m = d - e >= 16 ? (__mmask16)0xFFFF : tail;
        __m512 o = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, state + e), scaleBy);
        for (int r = 0; r < visible; r++) o = _mm512_fmadd_ps(_mm512_set1_ps(weights[r]), _mm512_maskz_loadu_ps(m, v + r * stride + e), o);
        _mm512_mask_storeu_ps(state + e, m, o);
    }
}

__attribute__((always_inline)) TPA_AVX512 static inline void tpa_attend_avx512_d(const tpa_cache *c, const tpa_queries *qs, long begin,
                                                                              long end, float *states, float *keyRows,
                                                                              float *valueRows, int d) {
    TPA_ATTEND(tpa_decode_avx512, tpa_step_avx512, d)
}

/* tpa_attend_portable on the AVX-512 path, specialized for the common head dimensions. */
TPA_AVX512 static void tpa_attend_avx512(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states,
                                         float *keyRows, float *valueRows) {
    switch (qs->headDim) {
    case 64: tpa_attend_avx512_d(c, qs, begin, end, states, keyRows, valueRows, 64); break;
    case 128: tpa_attend_avx512_d(c, qs, begin, end, states, keyRows, valueRows, 128); break;
    default: tpa_attend_avx512_d(c, qs, begin, end, states, keyRows, valueRows, qs->headDim); break;
    }
}
#endif

/* tpa_attend_portable or its AVX-512 form (`path`, a TPA_PATH_* this CPU runs). */
static inline void tpa_attend(int path, const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states,
                              float *keyRows, float *valueRows) {
#if defined(__x86_64__)
    if (path == TPA_PATH_AVX512) return tpa_attend_avx512(c, qs, begin, end, states, keyRows, valueRows);
#endif
    tpa_attend_portable(c, qs, begin, end, states, keyRows, valueRows);
}

/* One query vector's output from its states over `chunks` consecutive position ranges, chunk j's at
   state + j * chunkStride: with M the largest maximum and w_j = e^(m_j - M), out = (sum_j w_j o_j) / (sum_j w_j l_j),
   summed in chunk order, and logSumExp = M + log(sum_j w_j l_j). */
static inline void tpa_finish(const float *state, long chunkStride, int chunks, int d, float *out, float *logSumExp) {
    float top = -INFINITY, sum = 0;
    for (int j = 0; j < chunks; j++) top = fmaxf(top, state[j * chunkStride + d]);
    memset(out, 0, sizeof(float) * (size_t)d);
    for (int j = 0; j < chunks; j++) {
        const float *s = state + j * chunkStride;
        float w = expf(s[d] - top);
        sum += s[d + 1] * w;
        for (int e = 0; e < d; e++) out[e] += s[e] * w;
    }
    float inverse = 1 / sum;
    for (int e = 0; e < d; e++) out[e] *= inverse;
    *logSumExp = top + logf(sum);
}
#endif
