// attention_bf16.c - causal attention of one (sequence, head) with bf16 products, for training under
// `--precision bf16`.
//
// The six products of attention (scores Q·Kᵀ and the weighted values P·V forward; dP = dY·Vᵀ,
// dQ = dS·K, dK = dSᵀ·Q and dV = Pᵀ·dY backward) run as AVX512-BF16 dot products: each instruction
// multiplies pairs of bf16 operands and adds both products to an fp32 lane, twice the multiply-adds of
// an fp32 FMA, so attention's products take half the instructions of the fp32 kernels in kernels.c.
// Softmax, its gradient and every sum stay fp32. The probabilities are kept for the backward pass
// in bf16 (half the bytes the fp32 kernel writes and reads again, which is what bounds it).
//
// Operands are packed per (sequence, head) into small buffers that stay in L2: "rows" (a matrix as
// bf16 rows, each 32-bit word a pair of neighbours along the summed dimension) for the left operand,
// and for the right operand either "pairs transposed" (word [c/2][j] = row j's channels c, c+1) when the
// sum runs over channels, or "row pairs" (word [j/2][c] = rows j, j+1 of channel c) when it runs over
// positions. The microkernel then broadcasts one left word and multiplies it into 16-lane right words.
// Every loop runs in a fixed order, so results are reproducible bit for bit.
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "CKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define INLINE static inline __attribute__((always_inline))

static inline size_t pad32(size_t n) { return (n + 31) & ~(size_t)31; }
static inline size_t pad64b(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

/// Bytes of scratch one call needs (the forward pass, or the backward pass when `backward` is set).
size_t tc_attention_bf16_scratch_bytes(size_t t, size_t hd, int backward) {
    size_t tp = pad32(t), words = hd / 2;
    size_t rows = pad64b(tp * words * 4), pairsT = pad64b(words * tp * 4), rowPairs = pad64b(tp / 2 * hd * 4);
    size_t scores = pad64b(4 * tp * 4), square = pad64b(tp * tp / 2 * 4);
    if (!backward) return 64 + 2 * rows + pairsT + rowPairs + scores;
    return 64 + 2 * rows + pairsT + 3 * rowPairs + 3 * square + scores;
}

/// Carves 64-byte-aligned pieces off a scratch buffer.
INLINE void *carve(char **cursor, size_t bytes) {
    void *p = *cursor;
    *cursor += pad64b(bytes);
    return p;
}

/// dst[r][0..hd) = bf16(src[r·ld + c]) for r < t, zero rows up to `rows`; hd/2 words per row.
BF16_TARGET static void pack_rows(const float *src, size_t ld, size_t t, size_t rows, size_t hd, uint32_t *dst) {
    for (size_t r = 0; r < rows; r++) {
        uint32_t *d = dst + r * (hd / 2);
        if (r >= t) { memset(d, 0, hd * 2); continue; }
        const float *s = src + r * ld;
        size_t c = 0;
        for (; c + 32 <= hd; c += 32)
            _mm512_storeu_si512((void *)(d + c / 2), (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + c + 16), _mm512_loadu_ps(s + c)));
        for (; c < hd; c += 16)
            _mm256_storeu_si256((void *)(d + c / 2), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(s + c)));
    }
}

/// dst[c/2][j] (rows of tp words) = the pair (src[j][c], src[j][c+1]) in bf16, zero for t ≤ j < tp:
/// the right operand of a product summed over channels. `rows` is scratch for the packed rows (tp · hd/2 words).
BF16_TARGET static void pack_pairs_transposed(const float *src, size_t ld, size_t t, size_t tp, size_t hd, uint32_t *rows,
                                              uint32_t *dst) {
    size_t words = hd / 2;
    pack_rows(src, ld, t, tp, hd, rows);
    const __m512i lane = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32((int)words));
    for (size_t j = 0; j < tp; j += 16)
        for (size_t w = 0; w < words; w++)
            _mm512_storeu_si512((void *)(dst + w * tp + j),
                                _mm512_i32gather_epi32(lane, (const void *)(rows + j * words + w), 4));
}

/// dst[j/2][c] (rows of hd words) = the pair (src[j][c], src[j+1][c]) in bf16, zero rows past t:
/// the right operand of a product summed over positions.
BF16_TARGET static void pack_row_pairs(const float *src, size_t ld, size_t t, size_t tp, size_t hd, uint32_t *dst) {
    const __m512i zip = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                         23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (size_t jp = 0; jp < tp / 2; jp++) {
        size_t r0 = 2 * jp, r1 = r0 + 1;
        for (size_t c = 0; c < hd; c += 16) {
            __m512 a = r0 < t ? _mm512_loadu_ps(src + r0 * ld + c) : _mm512_setzero_ps();
            __m512 b = r1 < t ? _mm512_loadu_ps(src + r1 * ld + c) : _mm512_setzero_ps();
            __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);  // a's 16 below b's 16
            _mm512_storeu_si512((void *)(dst + jp * hd + c), _mm512_permutexvar_epi16(zip, both));
        }
    }
}

/// dst[i/2][j] (rows of tp words) = the pair (src[i][j], src[i+1][j]) of a bf16 [tp][tp] matrix held as rows of
/// tp/2 words: the left operand of a product over its transpose (dSᵀ·Q, Pᵀ·dY).
BF16_TARGET static void zip_row_pairs(const uint32_t *src, size_t tp, uint32_t *dst) {
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                        39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi = _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24,
                                        55, 23, 54, 22, 53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
    for (size_t ip = 0; ip < tp / 2; ip++) {
        const uint32_t *x = src + 2 * ip * (tp / 2), *y = x + tp / 2;
        for (size_t j = 0; j < tp; j += 32) {
            __m512i a = _mm512_loadu_si512((const void *)(x + j / 2)), b = _mm512_loadu_si512((const void *)(y + j / 2));
            _mm512_storeu_si512((void *)(dst + ip * tp + j), _mm512_permutex2var_epi16(a, lo, b));
            _mm512_storeu_si512((void *)(dst + ip * tp + j + 16), _mm512_permutex2var_epi16(a, hi, b));
        }
    }
}

/// acc[r][v] = Σ_{kp ∈ [k0, k1)} A(r, kp) · B[kp][16v ..< 16v+16] for four rows r and nv 16-lane column vectors;
/// A(r, kp) is the bf16 pair at a[r·ars + kp·aks], B has rows of ldb words.
BF16_TARGET INLINE void microkernel(const int nv, const uint32_t *a, size_t ars, size_t aks, const uint32_t *b, size_t ldb,
                                    size_t k0, size_t k1, __m512 acc[4][4]) {
    for (int r = 0; r < 4; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    for (size_t kp = k0; kp < k1; kp++) {
        const uint32_t *bk = b + kp * ldb;
        __m512bh bv[4];
        for (int v = 0; v < nv; v++) bv[v] = (__m512bh)_mm512_loadu_si512((const void *)(bk + 16 * v));
        for (int r = 0; r < 4; r++) {
            __m512bh av = (__m512bh)_mm512_broadcastd_epi32(_mm_loadu_si32((const void *)(a + r * ars + kp * aks)));
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
}

/// Writes (or adds) the first `rows` rows of acc to dst (rows ld floats apart).
BF16_TARGET INLINE void store_rows(__m512 acc[4][4], const int nv, size_t rows, float *dst, size_t ld, int accumulate) {
    for (size_t r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) {
            float *p = dst + r * ld + 16 * v;
            _mm512_storeu_ps(p, accumulate ? _mm512_add_ps(_mm512_loadu_ps(p), acc[r][v]) : acc[r][v]);
        }
}

/// dst[4 rows][hd] (+)= A(4 rows) · B over the pairs [k0, k1), B in row pairs of hd words: the products
/// whose result has a head's width (P·V, dS·K, dSᵀ·Q, Pᵀ·dY).
BF16_TARGET INLINE void product_to_head(const uint32_t *a, size_t ars, size_t aks, const uint32_t *b, size_t hd,
                                        size_t k0, size_t k1, size_t rows, float *dst, size_t ld, int accumulate) {
    __m512 acc[4][4];
    size_t c = 0;
    for (; c + 32 <= hd; c += 32) {
        microkernel(2, a, ars, aks, b + c, hd, k0, k1, acc);
        store_rows(acc, 2, rows, dst + c, ld, accumulate);
    }
    if (c < hd) {
        microkernel(1, a, ars, aks, b + c, hd, k0, k1, acc);
        store_rows(acc, 1, rows, dst + c, ld, accumulate);
    }
}

/// s[4][0 ..< ncols] = A(4 rows, hd/2 pairs) · B, B pairs transposed (rows of tp words): scores and dP.
BF16_TARGET INLINE void product_to_scores(const uint32_t *a, size_t hd, const uint32_t *b, size_t tp, size_t ncols, float *s) {
    __m512 acc[4][4];
    size_t j = 0;
    for (; j + 64 <= ncols; j += 64) {
        microkernel(4, a, hd / 2, 1, b + j, tp, 0, hd / 2, acc);
        store_rows(acc, 4, 4, s + j, tp, 0);
    }
    for (; j < ncols; j += 32) {
        microkernel(2, a, hd / 2, 1, b + j, tp, 0, hd / 2, acc);
        store_rows(acc, 2, 4, s + j, tp, 0);
    }
}

/// One row of fp32 values times `factor` to bf16 words (ncols a multiple of 32), zero words to the row's end (tp).
BF16_TARGET INLINE void store_bf16_row(const float *x, float factor, size_t ncols, size_t tp, uint32_t *dst) {
    __m512 f = _mm512_set1_ps(factor);
    for (size_t j = 0; j < ncols; j += 32)
        _mm512_storeu_si512((void *)(dst + j / 2), (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_loadu_ps(x + j + 16), f),
                                                                                 _mm512_mul_ps(_mm512_loadu_ps(x + j), f)));
    if (ncols < tp) memset(dst + ncols / 2, 0, (tp - ncols) * 2);
}

/// fast_expf of kernels.c (range reduction and the same degree-6 polynomial), 16 lanes at a time.
BF16_TARGET INLINE __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.0f));
    __m512 fx = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/// Lanes j0 + l < n.
BF16_TARGET INLINE __mmask16 below(size_t j0, size_t n) {
    if (j0 + 16 <= n) return (__mmask16)0xffff;
    return j0 >= n ? 0 : (__mmask16)((1u << (n - j0)) - 1);
}

/// Sixteen bf16 values (8 words) widened to fp32 (exact).
BF16_TARGET INLINE __m512 widen16(const uint32_t *words) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)words));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/// Row of scores → unnormalised probabilities: exp(scale·s − max) over [0, n), zero on [n, ncols);
/// returns 1 / their sum, the factor that normalises them.
BF16_TARGET INLINE float softmax_row(float *s, size_t n, size_t ncols, float scale) {
    __m512 vs = _mm512_set1_ps(scale), vmax = _mm512_set1_ps(-INFINITY);
    for (size_t j = 0; j < ncols; j += 16) {
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + j), vs);
        _mm512_storeu_ps(s + j, x);
        vmax = _mm512_mask_max_ps(vmax, below(j, n), vmax, x);
    }
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax)), vsum = _mm512_setzero_ps();
    for (size_t j = 0; j < ncols; j += 16) {
        __m512 e = _mm512_maskz_mov_ps(below(j, n), exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), mx)));
        _mm512_storeu_ps(s + j, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    return 1.0f / _mm512_reduce_add_ps(vsum);
}

/// Row of dP → dS = P ∘ (dP − Σ P ∘ dP) · scale over [0, n), zero on [n, ncols); P in bf16 words.
BF16_TARGET INLINE void softmax_grad_row(float *s, const uint32_t *p, size_t n, size_t ncols, float scale) {
    __m512 vdot = _mm512_setzero_ps();
    for (size_t j = 0; j < ncols; j += 16)
        vdot = _mm512_mask3_fmadd_ps(widen16(p + j / 2), _mm512_loadu_ps(s + j), vdot, below(j, n));
    __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(vdot)), vs = _mm512_set1_ps(scale);
    for (size_t j = 0; j < ncols; j += 16) {
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(widen16(p + j / 2), _mm512_sub_ps(_mm512_loadu_ps(s + j), dot)), vs);
        _mm512_storeu_ps(s + j, _mm512_maskz_mov_ps(below(j, n), g));
    }
}

BF16_TARGET int tc_attention_forward_bf16(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                                          uint16_t *probs, size_t t, size_t hd, float scale, void *scratch) {
    if (t == 0 || hd == 0 || hd % 16 != 0 || hd > 512) return -1;
    size_t tp = pad32(t), words = hd / 2, pw = tp / 2;
    char *cursor = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint32_t *qa = carve(&cursor, tp * words * 4);
    uint32_t *kb = carve(&cursor, words * tp * 4);
    uint32_t *packed = carve(&cursor, tp * words * 4);
    uint32_t *vb = carve(&cursor, tp / 2 * hd * 4);
    float *s = carve(&cursor, 4 * tp * 4);
    uint32_t *p = (uint32_t *)(void *)probs;  // [tp][tp/2] words
    pack_rows(q, ld, t, tp, hd, qa);
    pack_pairs_transposed(k, ld, t, tp, hd, packed, kb);
    pack_row_pairs(v, ld, t, tp, hd, vb);
    if (t < tp) memset(p + t * pw, 0, (tp - t) * pw * 4);  // rows past t: zero, as the products read them
    for (size_t i0 = 0; i0 < t; i0 += 4) {
        size_t rows = t - i0 < 4 ? t - i0 : 4, ncols = pad32(i0 + rows);
        product_to_scores(qa + i0 * words, hd, kb, tp, ncols, s);
        for (size_t r = 0; r < rows; r++) {
            float *sr = s + r * tp;
            float inv = softmax_row(sr, i0 + r + 1, ncols, scale);
            store_bf16_row(sr, inv, ncols, tp, p + (i0 + r) * pw);
        }
        // P·V over the pairs of positions the block's rows can see (the rest of each row is zero).
        size_t k1 = (i0 + 4) / 2 < pw ? (i0 + 4) / 2 : pw;
        product_to_head(p + i0 * pw, pw, 1, vb, hd, 0, k1, rows, out + i0 * ldo, ldo, 0);
    }
    return 0;
}

BF16_TARGET int tc_attention_backward_bf16(const float *q, const float *k, const float *v, size_t ld, const uint16_t *probs,
                                           const float *dy, size_t ldo, float *dq, float *dk, float *dv, size_t t, size_t hd,
                                           float scale, int overwrite, void *scratch) {
    if (t == 0 || hd == 0 || hd % 16 != 0 || hd > 512) return -1;
    size_t tp = pad32(t), words = hd / 2, pw = tp / 2;
    int accumulate = !overwrite;
    char *cursor = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    uint32_t *dya = carve(&cursor, tp * words * 4);
    uint32_t *vt = carve(&cursor, words * tp * 4);
    uint32_t *packed = carve(&cursor, tp * words * 4);
    uint32_t *kr = carve(&cursor, tp / 2 * hd * 4);
    uint32_t *qr = carve(&cursor, tp / 2 * hd * 4);
    uint32_t *dyr = carve(&cursor, tp / 2 * hd * 4);
    uint32_t *ds = carve(&cursor, tp * pw * 4);
    uint32_t *dsz = carve(&cursor, tp * pw * 4);
    uint32_t *pz = carve(&cursor, tp * pw * 4);
    float *s = carve(&cursor, 4 * tp * 4);
    const uint32_t *p = (const uint32_t *)(const void *)probs;
    pack_rows(dy, ldo, t, tp, hd, dya);
    pack_pairs_transposed(v, ld, t, tp, hd, packed, vt);
    pack_row_pairs(k, ld, t, tp, hd, kr);
    pack_row_pairs(q, ld, t, tp, hd, qr);
    pack_row_pairs(dy, ldo, t, tp, hd, dyr);
    if (t < tp) memset(ds + t * pw, 0, (tp - t) * pw * 4);
    // dS = P ∘ (dP − rowsum(P ∘ dP)) · scale with dP = dY·Vᵀ on the causal part; dQ = dS·K.
    for (size_t i0 = 0; i0 < t; i0 += 4) {
        size_t rows = t - i0 < 4 ? t - i0 : 4, ncols = pad32(i0 + rows);
        product_to_scores(dya + i0 * words, hd, vt, tp, ncols, s);
        for (size_t r = 0; r < rows; r++) {
            float *sr = s + r * tp;
            softmax_grad_row(sr, p + (i0 + r) * pw, i0 + r + 1, ncols, scale);
            store_bf16_row(sr, 1.0f, ncols, tp, ds + (i0 + r) * pw);
        }
        size_t k1 = (i0 + 4) / 2 < pw ? (i0 + 4) / 2 : pw;
        product_to_head(ds + i0 * pw, pw, 1, kr, hd, 0, k1, rows, dq + i0 * ld, ld, accumulate);
    }
    // dK = dSᵀ·Q and dV = Pᵀ·dY: row j sums over the rows i ≥ j, i.e. the pairs from j/2 on.
    zip_row_pairs(ds, tp, dsz);
    zip_row_pairs(p, tp, pz);
    size_t kend = (t + 1) / 2;
    for (size_t j0 = 0; j0 < t; j0 += 4) {
        size_t rows = t - j0 < 4 ? t - j0 : 4;
        product_to_head(dsz + j0, 1, tp, qr, hd, j0 / 2, kend, rows, dk + j0 * ld, ld, accumulate);
        product_to_head(pz + j0, 1, tp, dyr, hd, j0 / 2, kend, rows, dv + j0 * ld, ld, accumulate);
    }
    return 0;
}

#else

size_t tc_attention_bf16_scratch_bytes(size_t t, size_t hd, int backward) { (void)t; (void)hd; (void)backward; return 0; }
int tc_attention_forward_bf16(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                              uint16_t *probs, size_t t, size_t hd, float scale, void *scratch) { return -1; }
int tc_attention_backward_bf16(const float *q, const float *k, const float *v, size_t ld, const uint16_t *probs,
                               const float *dy, size_t ldo, float *dq, float *dk, float *dv, size_t t, size_t hd,
                               float scale, int overwrite, void *scratch) { return -1; }

#endif
