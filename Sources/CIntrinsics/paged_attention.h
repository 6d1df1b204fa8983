#ifndef TESSERA_PAGED_ATTENTION_H
#define TESSERA_PAGED_ATTENTION_H
/* The inner loop of decoding attention over a paged key/value pool (Kernels.pagedAttention in Swift): one key/value
   head of one sequence over a range of its positions, for every query vector of the head's group (every query head
   and every query row) at once, so each cached row is read from memory once per call.

   Positions are taken TPA_ROWS at a time within a block (groups start at the block's first row). For each group
   and each query vector, in a fixed order that depends only on the positions: the scores scale * (q . k_r), each a
   fused-multiply-add chain over the head dimension; the online softmax update of the vector's running maximum m,
   sum l and output o (o = o * e^(m_old - m) + sum_r e^(s_r - m) v_r, rows in position order). So a query vector's
   numbers depend on nothing else in the call (batch invariance). The AVX-512 path (AVX-512 F/BW/VL/DQ with FMA and
   F16C, run only after the runtime check) reads rows where they lie, decoding F16 and Q8_0 in registers once per
   batch of up to TPA_BATCH query vectors, sums each dot product's 16 lanes by a fixed tree and takes e^x from a
   polynomial; the portable path decodes a group's rows into scratch, sums in element order and calls libm's expf.
   F16 and Q8_0 rows decode to exactly the floats Quantization.decode gives, so they give the bits F32 rows holding
   those floats give. */
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

/* One sequence's cached keys and values of one key/value head in one layer: position p is row p % blockSize of block
   blocks[p / blockSize], whose headDim values start offset + blocks[..] * blockStride + row * rowBytes bytes after
   keys (and values), stored as type (TQ_F32, TQ_F16 or TQ_Q8_0; a Q8_0 row is whole 32-value blocks). In the pool's
   layout blockStride = blockSize * rowBytes, so a run of consecutive blocks is one contiguous stretch of memory. */
typedef struct {
    const uint8_t *keys, *values;
    const long *blocks;
    long blockStride, offset, rowBytes;
    int blockSize, type;
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

/* The count values of a stored row as Float32, the values Quantization.decode gives. */
static inline void tpa_decode_portable(const uint8_t *row, int type, int count, float *out) {
    if (type == TQ_F16) {
        for (int e = 0; e < count; e++) out[e] = tq_f16(row + 2 * (size_t)e);
    } else if (type == TQ_Q8_0) {
        for (int e = 0; e < count; e++) {
            const uint8_t *block = row + 34 * (size_t)(e >> 5);
            out[e] = (float)(int8_t)block[2 + (e & 31)] * tq_f16(block);
        }
    } else {
        memcpy(out, row, 4 * (size_t)count);
    }
}

/* The first byte of position p's row in base (c->keys or c->values). */
static inline const uint8_t *tpa_row(const tpa_cache *c, const uint8_t *base, long p) {
    return base + c->offset + c->blocks[p / c->blockSize] * c->blockStride + (p % c->blockSize) * c->rowBytes;
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

/* Rows in the group that starts at position `first` (< end): up to TPA_ROWS, within first's block. So groups start at
   block starts and a sequence's groups depend only on its own length. */
static inline int tpa_group(const tpa_cache *c, long first, long end) {
    long inBlock = c->blockSize - first % c->blockSize, left = end - first;
    long count = inBlock < left ? inBlock : left;
    return count < TPA_ROWS ? (int)count : TPA_ROWS;
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
   states + (i * heads + g) * (headDim + 2). keyRows and valueRows hold TPA_ROWS * headDim floats each (decoded rows).
   Rows are read in address order within each block (the pool's blocks hold a head's rows contiguously), which the
   CPU's hardware prefetchers follow; software prefetch made the kernel slower on a pool read from DRAM (measured on
   the AVX-512 path, one thread: 16 against 10 CPU-ms a step for 8 sequences x 640 positions x 30 layers of SmolLM2's
   F16 cache). */
static inline void tpa_attend_portable(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states,
                                       float *keyRows, float *valueRows) {
    int d = qs->headDim;
    tpa_reset(states, qs->rows * qs->heads, d);
    for (long first = begin; first < end;) {
        int count = tpa_group(c, first, end);
        const uint8_t *keyRow = tpa_row(c, c->keys, first), *valueRow = tpa_row(c, c->values, first);
        for (int r = 0; r < count; r++) {
            tpa_decode_portable(keyRow + r * c->rowBytes, c->type, d, keyRows + (size_t)r * d);
            tpa_decode_portable(valueRow + r * c->rowBytes, c->type, d, valueRows + (size_t)r * d);
        }
        for (int i = 0; i < qs->rows; i++) {
            long seen = qs->start + i + 1 - first;
            if (seen <= 0) continue;
            for (int g = 0; g < qs->heads; g++)
                tpa_step_portable(qs->q + i * qs->qStride + (size_t)g * d, keyRows, valueRows, d, seen < count ? (int)seen : count,
                                  d, qs->scale, states + (size_t)(i * qs->heads + g) * (d + 2));
        }
        first += count;
    }
}

#if defined(__x86_64__)
#define TPA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define TPA_INLINE __attribute__((always_inline)) TPA_AVX512 static inline
/* Loops over the registers of a batch, unrolled even where the compiler would not unroll on its own (Swift's build
   of these headers), so the arrays below stay in registers. */
#define TPA_UNROLL _Pragma("clang loop unroll(full)")
/* Query vectors folded together on the AVX-512 path: each cached row is loaded and decoded once per batch. */
#define TPA_BATCH 4

/* The F16 number at p as Float32 (exact, as tq_f16). */
TPA_INLINE float tpa_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Elements element ..< element + 16 (element a multiple of 16) of a stored row as Float32 (lanes outside m: 0), the
   values tpa_decode_portable gives; a Q8_0 run lies within one 32-value block, since a row is whole blocks. */
TPA_INLINE __m512 tpa_load16(const uint8_t *row, int type, int element, __mmask16 m) {
    if (type == TQ_F16) {
        const uint8_t *p = row + 2 * (size_t)element;
        return _mm512_cvtph_ps(m == 0xFFFF ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m, p));
    }
    if (type == TQ_Q8_0) {
        const uint8_t *block = row + 34 * (size_t)(element >> 5);
        __m128i bytes = m == 0xFFFF ? _mm_loadu_si128((const __m128i *)(block + 2 + (element & 31)))
                                    : _mm_maskz_loadu_epi8(m, block + 2 + (element & 31));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), _mm512_set1_ps(tpa_f16(block)));
    }
    const float *p = (const float *)(row + 4 * (size_t)element);
    return m == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}

/* The fixed tree that sums 16 registers' lanes (lane r of the result: the sum of register r's lanes), in steps:
   two rows' lanes paired within 128-bit lanes, two pairs into a quad (rows 4j ..< 4j + 4), two quads into a half
   and two halves into the result, both by tpa_merge. */
TPA_INLINE __m512 tpa_pair(__m512 a, __m512 b) { return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); }
TPA_INLINE __m512 tpa_quad(const __m512 *rows) {
    __m512d x = _mm512_castps_pd(tpa_pair(rows[0], rows[1])), y = _mm512_castps_pd(tpa_pair(rows[2], rows[3]));
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
}
TPA_INLINE __m512 tpa_merge(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
}

/* e^x for x <= 0, within about 2 ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r by the degree-7 polynomial of Cephes'
   expf (coefficients recalled from the Cephes library, checked against libm by the Swift tests), times 2^n by
   vscalefps (which underflows to 0 below about -104). */
TPA_INLINE __m512 tpa_exp512(__m512 x) {
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

/* Lane r < count of dots[j]: q[j] . (row r's d values), rows rowBytes apart from `keys`; each a
   fused-multiply-add chain over 16-lane runs of the head dimension, the lanes summed by the fixed tree. Rows are read
   four at a time, each row once for all nb vectors. Lanes >= count: unspecified. */
TPA_INLINE void tpa_scores(const uint8_t *keys, long rowBytes, int type, int count, int d,
                           const float *const *q, int nb, __m512 *dots) {
    __m512 quads[TPA_BATCH], halves[TPA_BATCH];
    TPA_UNROLL for (int quarter = 0; quarter < 4; quarter++) {
        __m512 acc[TPA_BATCH][4];
        TPA_UNROLL for (int j = 0; j < nb; j++)
            TPA_UNROLL for (int r = 0; r < 4; r++) acc[j][r] = _mm512_setzero_ps();
        for (int e = 0; 4 * quarter < count && e < d; e += 16) {
            __mmask16 m = d - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - e)) - 1);
            __m512 k[4];
            TPA_UNROLL for (int r = 0; r < 4; r++) {
                int row = 4 * quarter + r < count ? 4 * quarter + r : count - 1;
                k[r] = tpa_load16(keys + row * rowBytes, type, e, m);
            }
            TPA_UNROLL for (int j = 0; j < nb; j++) {
                __m512 x = m == 0xFFFF ? _mm512_loadu_ps(q[j] + e) : _mm512_maskz_loadu_ps(m, q[j] + e);
                TPA_UNROLL for (int r = 0; r < 4; r++) acc[j][r] = _mm512_fmadd_ps(x, k[r], acc[j][r]);
            }
        }
        TPA_UNROLL for (int j = 0; j < nb; j++) {
            __m512 quad = tpa_quad(acc[j]);
            if (quarter == 1) halves[j] = tpa_merge(quads[j], quad);
            else if (quarter == 3) dots[j] = tpa_merge(halves[j], tpa_merge(quads[j], quad));
            else quads[j] = quad;
        }
    }
}

/* Folds the `count` rows of a group (keys and values from keyRow and valueRow, rowBytes apart) into nb query
   vectors: vector j (query q[j], state[j]) sees its first visible[j] (>= 1) rows. The scores, their softmax update
   and the output update in row order, as tpa_step_portable. */
TPA_INLINE void tpa_fold(const tpa_cache *c, const uint8_t *keyRow, const uint8_t *valueRow, int count, int type, int d,
                         float scale, int nb, const float *const *q, float *const *state, const int *visible) {
    __m512 dots[TPA_BATCH], correction[TPA_BATCH];
    float weights[TPA_BATCH][TPA_ROWS];
    int rows = 0;
    tpa_scores(keyRow, c->rowBytes, type, count, d, q, nb, dots);
    TPA_UNROLL for (int j = 0; j < nb; j++) {
        __mmask16 live = (__mmask16)(visible[j] >= 16 ? 0xFFFF : (1u << visible[j]) - 1);
        __m512 scores = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live, _mm512_mul_ps(dots[j], _mm512_set1_ps(scale)));
        float previous = state[j][d], top = fmaxf(previous, _mm512_reduce_max_ps(scores));
        __m512 p = _mm512_maskz_mov_ps(live, tpa_exp512(_mm512_sub_ps(scores, _mm512_set1_ps(top))));
        correction[j] = tpa_exp512(_mm512_set1_ps(previous - top));
        _mm512_storeu_ps(weights[j], p);
        state[j][d] = top;
        state[j][d + 1] = state[j][d + 1] * _mm512_cvtss_f32(correction[j]) + _mm512_reduce_add_ps(p);
        rows = visible[j] > rows ? visible[j] : rows;
    }
    for (int e = 0; e < d; e += 64) { /* up to 64 values of each output at a time; runs past d are masked off */
        __m512 o[TPA_BATCH][4];
        __mmask16 m[4];
        TPA_UNROLL for (int r = 0; r < 4; r++) {
            int left = d - e - 16 * r;
            m[r] = (__mmask16)(left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1 : 0);
            TPA_UNROLL for (int j = 0; j < nb; j++) o[j][r] = _mm512_mul_ps(_mm512_maskz_loadu_ps(m[r], state[j] + e + 16 * r), correction[j]);
        }
        for (int row = 0; row < rows; row++) {
            TPA_UNROLL for (int r = 0; r < 4; r++) {
                if (!m[r]) continue;
                __m512 v = tpa_load16(valueRow + row * c->rowBytes, type, e + 16 * r, m[r]);
                TPA_UNROLL for (int j = 0; j < nb; j++) o[j][r] = _mm512_fmadd_ps(_mm512_set1_ps(weights[j][row]), v, o[j][r]);
            }
        }
        TPA_UNROLL for (int r = 0; r < 4; r++)
            TPA_UNROLL for (int j = 0; j < nb; j++) _mm512_mask_storeu_ps(state[j] + e + 16 * r, m[r], o[j][r]);
    }
}

/* tpa_attend_portable on the AVX-512 path for cache type `type` and head dimension d: rows read in place (F16 and
   Q8_0 decoded in registers), query vectors in batches of TPA_BATCH. */
TPA_INLINE void tpa_attend_avx512_t(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states, int type,
                                    int d) {
    int vectors = qs->rows * qs->heads;
    tpa_reset(states, vectors, d);
    for (long first = begin; first < end;) {
        int count = tpa_group(c, first, end);
        const uint8_t *keyRow = tpa_row(c, c->keys, first), *valueRow = tpa_row(c, c->values, first);
        /* query row i sees this group's rows when start + i >= first */
        for (int v = (first > qs->start ? (int)(first - qs->start) : 0) * qs->heads; v < vectors; v += TPA_BATCH) {
            const float *q[TPA_BATCH];
            float *state[TPA_BATCH];
            int visible[TPA_BATCH], nb = vectors - v < TPA_BATCH ? vectors - v : TPA_BATCH;
            for (int j = 0; j < nb; j++) {
                int i = (v + j) / qs->heads, g = (v + j) % qs->heads;
                long seen = qs->start + i + 1 - first;
                q[j] = qs->q + i * qs->qStride + (size_t)g * d;
                state[j] = states + (size_t)(v + j) * (d + 2);
                visible[j] = seen < count ? (int)seen : count;
            }
            switch (nb) {
            case 4: tpa_fold(c, keyRow, valueRow, count, type, d, qs->scale, 4, q, state, visible); break;
            case 3: tpa_fold(c, keyRow, valueRow, count, type, d, qs->scale, 3, q, state, visible); break;
            case 2: tpa_fold(c, keyRow, valueRow, count, type, d, qs->scale, 2, q, state, visible); break;
            default: tpa_fold(c, keyRow, valueRow, count, type, d, qs->scale, 1, q, state, visible); break;
            }
        }
        first += count;
    }
}

TPA_INLINE void tpa_attend_avx512_d(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states, int d) {
    switch (c->type) {
    case TQ_F16: tpa_attend_avx512_t(c, qs, begin, end, states, TQ_F16, d); break;
    case TQ_Q8_0: tpa_attend_avx512_t(c, qs, begin, end, states, TQ_Q8_0, d); break;
    default: tpa_attend_avx512_t(c, qs, begin, end, states, TQ_F32, d); break;
    }
}

/* tpa_attend_portable on the AVX-512 path, specialized for each cache type and the common head dimensions. */
TPA_AVX512 static void tpa_attend_avx512(const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states) {
    switch (qs->headDim) {
    case 64: tpa_attend_avx512_d(c, qs, begin, end, states, 64); break;
    case 128: tpa_attend_avx512_d(c, qs, begin, end, states, 128); break;
    default: tpa_attend_avx512_d(c, qs, begin, end, states, qs->headDim); break;
    }
}
#endif

/* tpa_attend_portable or its AVX-512 form (`path`, a TPA_PATH_* this CPU runs). */
static inline void tpa_attend(int path, const tpa_cache *c, const tpa_queries *qs, long begin, long end, float *states,
                              float *keyRows, float *valueRows) {
#if defined(__x86_64__)
    if (path == TPA_PATH_AVX512) return tpa_attend_avx512(c, qs, begin, end, states);
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
