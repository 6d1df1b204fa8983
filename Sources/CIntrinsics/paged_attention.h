#ifndef TESSERA_PAGED_ATTENTION_H
#define TESSERA_PAGED_ATTENTION_H
/* The inner loop of decoding attention over a paged key/value pool (Kernels.pagedAttention in Swift): one key/value
   head of one sequence over a range of its positions, for every query vector of the head's group (every query head
   and every query row) at once, so each cached row is read from memory once per call.

   Values are stored a row per position; keys in tiles of TPA_ROWS positions stored dimension by dimension (the
   "key tile" below), so the AVX-512 path scores sixteen positions per register with broadcast multiply-adds and no
   sums across lanes. Positions are taken a tile at a time (groups start at a tile's first row). For each group and
   each query vector, in a fixed order that depends only on the positions: the scores scale * (q . k_r), each dot
   product four fused-multiply-add chains over the dimensions e = c (mod 4), c = 0 ... 3, summed as
   (c0 + c1) + (c2 + c3); the online softmax update of the vector's running maximum m, sum l and output o
   (o = o * e^(m_old - m) + sum_r e^(s_r - m) v_r, rows in position order). So a query vector's numbers depend on
   nothing else in the call (batch invariance), and both paths sum each score in this order. The AVX-512 path
   (AVX-512 F/BW/VL/DQ with FMA and F16C, run only after the runtime check) reads keys and values where they lie,
   decoding F16 and Q8_0 in registers once per batch of up to TPA_BATCH query vectors, and takes e^x from a
   polynomial; the portable path decodes a group into scratch and calls libm's expf. F16 and Q8_0 decode to exactly
   the floats Quantization.decode gives, so they give the bits F32 holding those floats gives. */
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
   blocks[p / blockSize], whose bytes start offset + blocks[..] * blockStride bytes after keys (and values). A block's
   value rows lie row after row, rowBytes apart: headDim values of type (TQ_F32, TQ_F16 or TQ_Q8_0; a Q8_0 row is
   whole 32-value blocks). Its keys take the same bytes in key tiles (tpa_key_tile). In the pool's layout
   blockStride = blockSize * rowBytes, so a run of consecutive blocks is one contiguous stretch of memory. */
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

/* The first byte of position p's value row. */
static inline const uint8_t *tpa_row(const tpa_cache *c, long p) {
    return c->values + c->offset + c->blocks[p / c->blockSize] * c->blockStride + (p % c->blockSize) * c->rowBytes;
}

/* Key tiles. A block's rows are cut into tiles of TPA_ROWS (the last one shorter when blockSize is not a multiple);
   the tile of rows first ..< first + width takes the bytes rows first ..< first + width would take
   (first * rowBytes bytes into the block, width * rowBytes long) and holds its keys dimension by dimension: element
   e of the row at lane r (row first + r) is at (e * width + r) * 4 bytes for F32, (e * width + r) * 2 for F16; for
   Q8_0 its 8-bit number is at e * width + r and the F16 scale of its 32-value block s = e / 32 at
   headDim * width + (s * width + r) * 2. So the keys of consecutive positions for one dimension lie side by side. */
typedef struct {
    const uint8_t *base;
    int width, lane;
} tpa_key_tile;

/* Where row `row` of a block whose bytes start at `block` lies: its tile and lane. */
static inline tpa_key_tile tpa_tile_of(const uint8_t *block, int blockSize, long rowBytes, int row) {
    int first = row - row % TPA_ROWS, left = blockSize - first;
    tpa_key_tile t = {block + first * rowBytes, left < TPA_ROWS ? left : TPA_ROWS, row - first};
    return t;
}

/* The key tile and lane of position p. */
static inline tpa_key_tile tpa_key(const tpa_cache *c, long p) {
    return tpa_tile_of(c->keys + c->offset + c->blocks[p / c->blockSize] * c->blockStride, c->blockSize, c->rowBytes,
                       (int)(p % c->blockSize));
}

/* Element e of the key at t's lane as Float32, the value Quantization.decode gives. */
static inline float tpa_key_element(tpa_key_tile t, int type, int d, int e) {
    long at = (long)e * t.width + t.lane;
    if (type == TQ_F16) return tq_f16(t.base + 2 * at);
    if (type == TQ_Q8_0) return (float)(int8_t)t.base[at] * tq_f16(t.base + (long)d * t.width + 2 * ((long)(e >> 5) * t.width + t.lane));
    float x;
    memcpy(&x, t.base + 4 * at, 4);
    return x;
}

/* The d values of the key at t's lane as Float32 (tpa_key_element). */
static inline void tpa_key_decode(tpa_key_tile t, int type, int d, float *out) {
    for (int e = 0; e < d; e++) out[e] = tpa_key_element(t, type, d, e);
}

/* Stores `row`, one key of d values encoded as a value row is (rowBytes bytes of type), at lane `lane` of the key
   tile of `width` rows at `tile`. */
static inline void tpa_key_store(uint8_t *tile, int width, int lane, int type, int d, const uint8_t *row) {
    if (type == TQ_Q8_0) {
        for (int s = 0; s < d / 32; s++) {
            memcpy(tile + (long)d * width + 2 * ((long)s * width + lane), row + 34 * s, 2);
            for (int i = 0; i < 32; i++) tile[(long)(32 * s + i) * width + lane] = row[34 * s + 2 + i];
        }
        return;
    }
    if (type == TQ_F16) { /* fixed-size copies, which compile to plain moves */
        for (int e = 0; e < d; e++) memcpy(tile + 2 * ((long)e * width + lane), row + 2 * (long)e, 2);
    } else {
        for (int e = 0; e < d; e++) memcpy(tile + 4 * ((long)e * width + lane), row + 4 * (long)e, 4);
    }
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

/* Rows in the group that starts at position `first` (< end): the rest of first's key tile, up to end. Plans start
   ranges at block starts, so groups are whole tiles except at a sequence's end, and a sequence's groups depend only
   on its own length. */
static inline int tpa_group(const tpa_cache *c, long first, long end) {
    tpa_key_tile t = tpa_key(c, first);
    long left = end - first;
    return left < t.width - t.lane ? (int)left : t.width - t.lane;
}

/* One query vector over `visible` (<= TPA_ROWS) rows, portable: dot products in four chains (the file's order),
   libm's expf. */
static inline void tpa_step_portable(const float *q, const float *k, const float *v, long stride, int visible, int d,
                                     float scale, float *state) {
    float scores[TPA_ROWS], top = state[d];
    for (int r = 0; r < visible; r++) {
        float chains[4] = {0, 0, 0, 0};
        for (int e = 0; e < d; e++) chains[e & 3] = fmaf(q[e], k[r * stride + e], chains[e & 3]);
        scores[r] = scale * ((chains[0] + chains[1]) + (chains[2] + chains[3]));
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
        tpa_key_tile key = tpa_key(c, first);
        const uint8_t *valueRow = tpa_row(c, first);
        for (int r = 0; r < count; r++, key.lane++) {
            tpa_key_decode(key, c->type, d, keyRows + (size_t)r * d);
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

/* Lanes lane ..< lane + 16 of dimension e of a key tile (lanes outside m: 0) as Float32, the values
   tpa_key_element gives; `scale` holds the lanes' Q8_0 scales of e's 32-value block (tpa_key_scales). */
TPA_INLINE __m512 tpa_key16(tpa_key_tile t, int type, int e, __mmask16 m, __m512 scale) {
    long at = (long)e * t.width + t.lane;
    if (type == TQ_F16) {
        const uint8_t *p = t.base + 2 * at;
        return _mm512_cvtph_ps(m == 0xFFFF ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m, p));
    }
    if (type == TQ_Q8_0) {
        __m128i bytes = m == 0xFFFF ? _mm_loadu_si128((const __m128i *)(t.base + at)) : _mm_maskz_loadu_epi8(m, t.base + at);
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)), scale);
    }
    const float *p = (const float *)(t.base + 4 * at);
    return m == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}

/* The lanes' Q8_0 scales of the 32-value block that holds dimension e (other types: unused). */
TPA_INLINE __m512 tpa_key_scales(tpa_key_tile t, int type, int d, int e, __mmask16 m) {
    if (type != TQ_Q8_0) return _mm512_setzero_ps();
    const uint8_t *p = t.base + (long)d * t.width + 2 * ((long)(e >> 5) * t.width + t.lane);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* Lane r < count of dots[j]: q[j] . (the key at lane t.lane + r), in the file's order: four chains of broadcast
   multiply-adds, one dimension (sixteen positions) per register, summed as (c0 + c1) + (c2 + c3). Each dimension is
   loaded once for all nb vectors. Lanes >= count: 0. */
TPA_INLINE void tpa_scores(tpa_key_tile t, int type, int count, int d, const float *const *q, int nb, __m512 *dots) {
    __mmask16 m = count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
    __m512 acc[TPA_BATCH][4];
    TPA_UNROLL for (int j = 0; j < nb; j++)
        TPA_UNROLL for (int c = 0; c < 4; c++) acc[j][c] = _mm512_setzero_ps();
    for (int block = 0; block < d; block += 32) {
        __m512 scale = tpa_key_scales(t, type, d, block, m);
        int stop = d - block < 32 ? d : block + 32;
        for (int e = block; e < stop; e += 4) {
            TPA_UNROLL for (int c = 0; c < 4; c++) {
                if (e + c >= stop) break;
                __m512 k = tpa_key16(t, type, e + c, m, scale);
                TPA_UNROLL for (int j = 0; j < nb; j++) acc[j][c] = _mm512_fmadd_ps(_mm512_set1_ps(q[j][e + c]), k, acc[j][c]);
            }
        }
    }
    TPA_UNROLL for (int j = 0; j < nb; j++)
        dots[j] = _mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3]));
}

/* Folds the `count` rows of a group (keys from lanes key.lane ..< key.lane + count of a key tile, values from
   valueRow, rowBytes apart) into nb query vectors: vector j (query q[j], state[j]) sees its first visible[j] (>= 1)
   rows. The scores, their softmax update and the output update in row order, as tpa_step_portable. */
TPA_INLINE void tpa_fold(const tpa_cache *c, tpa_key_tile key, const uint8_t *valueRow, int count, int type, int d,
                         float scale, int nb, const float *const *q, float *const *state, const int *visible) {
    __m512 dots[TPA_BATCH], correction[TPA_BATCH];
    float weights[TPA_BATCH][TPA_ROWS];
    int rows = 0;
    tpa_scores(key, type, count, d, q, nb, dots);
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
        tpa_key_tile key = tpa_key(c, first);
        const uint8_t *valueRow = tpa_row(c, first);
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
            case 4: tpa_fold(c, key, valueRow, count, type, d, qs->scale, 4, q, state, visible); break;
            case 3: tpa_fold(c, key, valueRow, count, type, d, qs->scale, 3, q, state, visible); break;
            case 2: tpa_fold(c, key, valueRow, count, type, d, qs->scale, 2, q, state, visible); break;
            default: tpa_fold(c, key, valueRow, count, type, d, qs->scale, 1, q, state, visible); break;
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
