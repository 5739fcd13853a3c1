// The hot loops. Each public kernel is cloned for AVX-512, AVX2 and baseline x86-64 (the loader
// picks one by CPU), so the binary is portable yet vectorised. Reductions keep float64 or several
// float accumulators where accuracy matters for gradient checks.
#include <math.h>
#include <string.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

void tc_flush_denormals(void) {
#if defined(__x86_64__)
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#endif
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__)) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

// Cephes-style expf: range reduction to [-ln2/2, ln2/2] and a degree-6 polynomial (~1 ulp).
// Written branch-free so that loops calling it vectorise.
static inline __attribute__((always_inline)) float fast_expf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.0f ? 88.0f : x;
    float fx = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - fx * 0.693359375f;
    r = r - fx * -2.12194440e-4f;
    float r2 = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r2 + r + 1.0f;
    int32_t e = ((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return y * scale;
}

static inline __attribute__((always_inline)) float fast_tanhf(float x) {
    float e = fast_expf(2.0f * x);
    return 1.0f - 2.0f / (e + 1.0f);
}

// Sums in these kernels may be reordered so that they vectorise (a fixed order per build and CPU, so
// runs stay reproducible); the exp polynomial is a separate function and keeps its exact order.
#if defined(__clang__)
#define REASSOCIATE _Pragma("clang fp reassociate(on)")
#else
#define REASSOCIATE
#endif

// Attention's inner loops are short (a head's 32 components, or up to a few hundred positions): one
// 16-wide vector per iteration, without interleaving, keeps them out of the scalar remainder loop.
#if defined(__clang__)
#define SHORT_LOOP _Pragma("clang loop vectorize_width(16) interleave_count(1)")
#else
#define SHORT_LOOP
#endif

#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f

CLONES void tc_gelu_forward(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = fast_tanhf(GELU_C * (v + GELU_A * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

CLONES void tc_gelu_backward(const float *restrict x, const float *restrict dy, float *restrict dx, size_t n, int overwrite) {
    // An overwritten buffer may hold any bits (NaN included): store, never scale by zero.
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float t = fast_tanhf(GELU_C * (v + GELU_A * v * v * v));
        float dt = (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
        float g = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * dt);
        dx[i] = overwrite ? g : dx[i] + g;
    }
}

CLONES void tc_add(const float *restrict a, const float *restrict b, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

CLONES void tc_accumulate(float *restrict y, const float *restrict a, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += a[i];
}

CLONES void tc_axpy(float *restrict y, const float *restrict a, float alpha, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += alpha * a[i];
}

CLONES void tc_mul(const float *restrict a, const float *restrict b, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

CLONES void tc_scale(const float *restrict x, float alpha, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = alpha * x[i];
}

CLONES double tc_sum_squares(const float *restrict x, size_t n) {
    REASSOCIATE
    double total = 0;
    size_t i = 0;
    while (i < n) {  // float blocks of 4096 keep vectorised speed and float64 accuracy overall
        size_t end = i + 4096 < n ? i + 4096 : n;
        float acc = 0;
        for (; i < end; i++) acc += x[i] * x[i];
        total += acc;
    }
    return total;
}

CLONES double tc_sum(const float *restrict x, size_t n) {
    REASSOCIATE
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = i + 4096 < n ? i + 4096 : n;
        float acc = 0;
        for (; i < end; i++) acc += x[i];
        total += acc;
    }
    return total;
}

CLONES void tc_add_rows(const float *restrict x, const float *restrict b, float *restrict y, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < d; j++) y[r * d + j] = x[r * d + j] + b[j];
}

CLONES void tc_fill_rows(float *restrict y, size_t ldy, const float *restrict b, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) memcpy(y + r * ldy, b, d * sizeof(float));
}

CLONES void tc_sum_rows_into(const float *restrict dy, size_t lddy, float *restrict db, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < d; j++) db[j] += dy[r * lddy + j];
}

CLONES void tc_layernorm_forward(const float *restrict x, const float *restrict w, const float *restrict b,
                                 float *restrict y, float *restrict mean, float *restrict rstd,
                                 size_t rows, size_t d, float eps) {
    REASSOCIATE
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float s = 0;
        for (size_t j = 0; j < d; j++) s += xr[j];
        float m = s / (float)d;
        float v = 0;
        for (size_t j = 0; j < d; j++) { float c = xr[j] - m; v += c * c; }
        float rs = 1.0f / sqrtf(v / (float)d + eps);
        float *yr = y + r * d;
        for (size_t j = 0; j < d; j++) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    }
}

CLONES void tc_layernorm_backward(const float *restrict x, const float *restrict w, const float *restrict mean,
                                  const float *restrict rstd, const float *restrict dy, float *restrict dx,
                                  float *restrict dw, float *restrict db, size_t rows, size_t d, int overwrite) {
    REASSOCIATE
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *dyr = dy + r * d;
        float m = mean[r], rs = rstd[r];
        float dnorm_mean = 0, dnorm_norm_mean = 0;
        for (size_t j = 0; j < d; j++) {
            float norm = (xr[j] - m) * rs;
            float dnorm = w[j] * dyr[j];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)d;
        dnorm_norm_mean /= (float)d;
        float *dxr = dx + r * d;
        for (size_t j = 0; j < d; j++) {
            float norm = (xr[j] - m) * rs;
            float dnorm = w[j] * dyr[j];
            db[j] += dyr[j];
            dw[j] += norm * dyr[j];
            float g = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rs;
            dxr[j] = overwrite ? g : dxr[j] + g;
        }
    }
}

CLONES void tc_softmax_rows(const float *restrict x, float *restrict y, size_t rows, size_t d) {
    REASSOCIATE
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float mx = -INFINITY;
        for (size_t j = 0; j < d; j++) mx = xr[j] > mx ? xr[j] : mx;
        float s = 0;
        for (size_t j = 0; j < d; j++) { float e = fast_expf(xr[j] - mx); yr[j] = e; s += e; }
        float inv = 1.0f / s;
        for (size_t j = 0; j < d; j++) yr[j] *= inv;
    }
}

CLONES void tc_softmax_rows_backward(const float *restrict y, const float *restrict dy, float *restrict dx,
                                     size_t rows, size_t d) {
    REASSOCIATE
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y + r * d, *dyr = dy + r * d;
        float dot = 0;
        for (size_t j = 0; j < d; j++) dot += yr[j] * dyr[j];
        float *dxr = dx + r * d;
        for (size_t j = 0; j < d; j++) dxr[j] += yr[j] * (dyr[j] - dot);
    }
}

CLONES double tc_cross_entropy(const float *restrict logits, const int32_t *restrict targets,
                               const float *restrict weight, float *restrict dlogits, float gscale,
                               size_t rows, size_t v) {
    REASSOCIATE
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *lr = logits + r * v;
        float wr = weight ? weight[r] : 1.0f;
        if (wr == 0.0f) {
            if (dlogits) memset(dlogits + r * v, 0, v * sizeof(float));
            continue;
        }
        float mx = -INFINITY;
        for (size_t j = 0; j < v; j++) mx = lr[j] > mx ? lr[j] : mx;
        float s = 0;
        for (size_t j = 0; j < v; j++) s += fast_expf(lr[j] - mx);
        float lse = mx + logf(s);
        int32_t tgt = targets[r];
        total += (double)wr * (double)(lse - lr[tgt]);
        if (dlogits) {
            float *dr = dlogits + r * v;
            float k = wr * gscale, inv = 1.0f / s;
            for (size_t j = 0; j < v; j++) dr[j] = fast_expf(lr[j] - mx) * inv * k;
            dr[tgt] -= k;
        }
    }
    return total;
}

void tc_argmax_rows(const float *x, int32_t *out, size_t rows, size_t d) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        size_t best = 0;
        for (size_t j = 1; j < d; j++) if (xr[j] > xr[best]) best = j;
        out[r] = (int32_t)best;
    }
}

CLONES void tc_adamw(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                     float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2) {
    float decay = 1.0f - lr * wd, step = lr / bc1, sbc2 = sqrtf(bc2);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / sbc2 + eps);
    }
}


// Attention for one (sequence, head), register-blocked: accumulations run in blocks of 16 floats held
// in vector registers, several independent blocks at a time so that FMA latency overlaps (one chain
// would stall 4 cycles per step). Keys and values are transposed into a scratch tile whose rows are
// padded to a multiple of 64 positions (the padding is zero), so score blocks never need a tail.
#define BLK 16
#define SPAN 64
static inline size_t pad_span(size_t n) { return (n + SPAN - 1) / SPAN * SPAN; }

/// out[0..SPAN) = Σ_c w[c] · rows[c * stride + 0..SPAN): four independent 16-wide chains.
static inline __attribute__((always_inline)) void weighted_rows_span(const float *restrict w, const float *restrict rows, size_t stride, size_t count,
                                      float *restrict out) {
    float a0[BLK] = {0}, a1[BLK] = {0}, a2[BLK] = {0}, a3[BLK] = {0};
    for (size_t c = 0; c < count; c++) {
        const float *r = rows + c * stride;
        float g = w[c];
        for (int l = 0; l < BLK; l++) {
            a0[l] += g * r[l];
            a1[l] += g * r[BLK + l];
            a2[l] += g * r[2 * BLK + l];
            a3[l] += g * r[3 * BLK + l];
        }
    }
    for (int l = 0; l < BLK; l++) { out[l] = a0[l]; out[BLK + l] = a1[l]; out[2 * BLK + l] = a2[l]; out[3 * BLK + l] = a3[l]; }
}

/// out[0..hd) = (or += when accumulate is set) Σ_j w[j] · rows[j * stride + 0..hd), for hd = 32: two
/// column blocks × two interleaved j chains. A stored `out` may hold any bits before: it is never read then.
static inline __attribute__((always_inline)) void weighted_sum32(const float *restrict w, const float *restrict rows, size_t stride, size_t count,
                                  float *restrict out, int accumulate) {
    float a0[BLK] = {0}, a1[BLK] = {0}, b0[BLK] = {0}, b1[BLK] = {0};
    size_t j = 0;
    for (; j + 1 < count; j += 2) {
        const float *r = rows + j * stride, *r2 = r + stride;
        float g = w[j], g2 = w[j + 1];
        for (int l = 0; l < BLK; l++) {
            a0[l] += g * r[l];
            a1[l] += g * r[BLK + l];
            b0[l] += g2 * r2[l];
            b1[l] += g2 * r2[BLK + l];
        }
    }
    if (j < count) {
        const float *r = rows + j * stride;
        float g = w[j];
        for (int l = 0; l < BLK; l++) { a0[l] += g * r[l]; a1[l] += g * r[BLK + l]; }
    }
    if (accumulate) {
        for (int l = 0; l < BLK; l++) { out[l] += a0[l] + b0[l]; out[BLK + l] += a1[l] + b1[l]; }
    } else {
        for (int l = 0; l < BLK; l++) { out[l] = a0[l] + b0[l]; out[BLK + l] = a1[l] + b1[l]; }
    }
}

/// The generic form of weighted_sum32 for any head size.
static inline __attribute__((always_inline)) void weighted_sum(const float *restrict w, const float *restrict rows, size_t stride, size_t count,
                                size_t hd, float *restrict out, int accumulate) {
    if (hd == 32) { weighted_sum32(w, rows, stride, count, out, accumulate); return; }
    if (!accumulate) for (size_t c = 0; c < hd; c++) out[c] = 0;
    for (size_t j = 0; j < count; j++)
        for (size_t c = 0; c < hd; c++) out[c] += w[j] * rows[j * stride + c];
}

/// Largest of x[0..n), 16 lanes at a time (a plain max reduction does not vectorise without fast-math).
static inline __attribute__((always_inline)) float max_of(const float *restrict x, size_t n) {
    float m[BLK];
    for (int l = 0; l < BLK; l++) m[l] = -INFINITY;
    size_t j = 0;
    for (; j + BLK <= n; j += BLK)
        for (int l = 0; l < BLK; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
    float mx = -INFINITY;
    for (int l = 0; l < BLK; l++) mx = m[l] > mx ? m[l] : mx;
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

/// Rows r0..r0+R of tc_linear_rows, R a compile-time constant after inlining.
static inline __attribute__((always_inline)) void linear_rows_block(const float *restrict x, size_t in, const float *restrict wt,
        size_t ldw, const float *restrict b, float *restrict y, size_t out, const int R) {
    for (size_t o = 0; o < out; o += 2 * BLK) {
        float a[8][2][BLK] = {{{0}}};
        for (size_t k = 0; k < in; k++) {
            const float *w = wt + k * ldw + o;
            for (int r = 0; r < R; r++) {
                float g = x[r * in + k];
                for (int h = 0; h < 2; h++)
                    for (int l = 0; l < BLK; l++) a[r][h][l] += g * w[h * BLK + l];
            }
        }
        // Constant indices only, so the accumulators stay in registers; the last span may be partial.
        if (out - o >= 2 * BLK) {
            for (int r = 0; r < R; r++)
                for (int h = 0; h < 2; h++)
                    for (int l = 0; l < BLK; l++) y[r * out + o + h * BLK + l] = a[r][h][l] + b[o + h * BLK + l];
        } else {
            float tmp[8][2 * BLK];
            for (int r = 0; r < R; r++)
                for (int h = 0; h < 2; h++)
                    for (int l = 0; l < BLK; l++) tmp[r][h * BLK + l] = a[r][h][l];
            for (int r = 0; r < R; r++)
                for (size_t c = 0; c < out - o; c++) y[r * out + o + c] = tmp[r][c] + b[o + c];
        }
    }
}

CLONES void tc_linear_rows(const float *restrict x, size_t m, size_t in, const float *restrict wt, size_t ldw,
                           const float *restrict b, float *restrict y, size_t out) {
    REASSOCIATE
    size_t r = 0;
    for (; r + 8 <= m; r += 8) linear_rows_block(x + r * in, in, wt, ldw, b, y + r * out, out, 8);
    if (r + 4 <= m) { linear_rows_block(x + r * in, in, wt, ldw, b, y + r * out, out, 4); r += 4; }
    if (r + 2 <= m) { linear_rows_block(x + r * in, in, wt, ldw, b, y + r * out, out, 2); r += 2; }
    if (r < m) linear_rows_block(x + r * in, in, wt, ldw, b, y + r * out, out, 1);
}

void tc_transpose(const float *restrict src, size_t lds, size_t rows, size_t cols, float *restrict dst, size_t ldd) {
    // Column-outer: stores run along a cache row, and the few source rows stay in L1 across columns.
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r < rows; r++) dst[c * ldd + r] = src[r * lds + c];
}

CLONES void tc_attend_cached(const float *restrict q, const float *restrict kt, const float *restrict v, size_t n,
                             size_t hd, size_t ctx, size_t vstride, float scale, float *restrict scores,
                             float *restrict out) {
    REASSOCIATE
    if (hd == 32 && ctx % SPAN == 0) {
        // Register-blocked: score spans of 64 positions (cache rows are ctx wide, so a span never leaves
        // its row; lanes past n hold junk that is never read), then the weighted sum in registers.
        float qs[32];
        for (size_t c = 0; c < 32; c++) qs[c] = q[c] * scale;
        for (size_t jb = 0; jb < n; jb += SPAN) weighted_rows_span(qs, kt + jb, ctx, 32, scores + jb);
        float mx = max_of(scores, n);
        // Whole 16-lane vectors (the span left room): a scalar tail of the exponential cost as much as the rest.
        size_t n16 = (n + BLK - 1) / BLK * BLK;
        float sum = 0;
        for (size_t j = 0; j < n16; j++) { float e = fast_expf(scores[j] - mx); e = j < n ? e : 0.0f; scores[j] = e; sum += e; }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < n16; j++) scores[j] *= inv;
        weighted_sum32(scores, v, vstride, n, out, 0);
        return;
    }
    SHORT_LOOP
    for (size_t j = 0; j < n; j++) scores[j] = 0;
    for (size_t c = 0; c < hd; c++) {  // keys stored transposed: this loop runs along positions
        const float *kc = kt + c * ctx;
        float qc = q[c] * scale;
        SHORT_LOOP
        for (size_t j = 0; j < n; j++) scores[j] += qc * kc[j];
    }
    float mx = max_of(scores, n);
    float sum = 0;
    for (size_t j = 0; j < n; j++) { float e = fast_expf(scores[j] - mx); scores[j] = e; sum += e; }
    float inv = 1.0f / sum;
    for (size_t c = 0; c < hd; c++) out[c] = 0;
    for (size_t j = 0; j < n; j++) {
        const float *vj = v + j * vstride;
        float pj = scores[j] * inv;
        SHORT_LOOP
        for (size_t c = 0; c < hd; c++) out[c] += pj * vj[c];
    }
}

// Four query rows at a time (hd = 32, the head size of every preset): each key, value, query or
// output-gradient row is loaded once for four rows' sums, so the loops run on FMAs, not loads.
#define RB 4

/// o_r[0..16·blocks) = (or +=, with accumulate) Σ_j w_r[j] · rows[j * stride + 0..16·blocks) for r < 4:
/// 4 × blocks independent 16-wide chains. `blocks` is 4 (score spans of 64 positions) or 2 (head size
/// 32); a constant at every call, so each use compiles to its own register-resident loop.
static inline __attribute__((always_inline)) void weighted_rows4(const float *restrict w0, const float *restrict w1,
        const float *restrict w2, const float *restrict w3, const float *restrict rows, size_t stride, size_t count,
        const int blocks, float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3, int accumulate) {
    float a[RB][4][BLK] = {{{0}}};
    for (size_t j = 0; j < count; j++) {
        const float *r = rows + j * stride;
        float g0 = w0[j], g1 = w1[j], g2 = w2[j], g3 = w3[j];
        for (int b = 0; b < blocks; b++)
            for (int l = 0; l < BLK; l++) {
                float x = r[b * BLK + l];
                a[0][b][l] += g0 * x; a[1][b][l] += g1 * x; a[2][b][l] += g2 * x; a[3][b][l] += g3 * x;
            }
    }
    float *o[RB] = {o0, o1, o2, o3};
    for (int q = 0; q < RB; q++)
        for (int b = 0; b < blocks; b++)
            for (int l = 0; l < BLK; l++) {
                if (accumulate) o[q][b * BLK + l] += a[q][b][l]; else o[q][b * BLK + l] = a[q][b][l];
            }
}

CLONES void tc_attention_forward(const float *restrict q, const float *restrict k, const float *restrict v, size_t ld,
                                 float *restrict out, size_t ldo, float *restrict p, size_t t, size_t hd, float scale,
                                 float *restrict kt) {
    REASSOCIATE
    size_t tp = pad_span(t);
    for (size_t c = 0; c < hd; c++) {
        for (size_t j = 0; j < t; j++) kt[c * tp + j] = k[j * ld + c];
        for (size_t j = t; j < tp; j++) kt[c * tp + j] = 0;
    }
    float qs[512], srow[4096 + SPAN];
    size_t i = 0;
    if (hd == 32) {
        float qs4[RB][32], s4[RB][4096 + SPAN];
        for (; i + RB <= t; i += RB) {
            size_t nmax = i + RB;  // columns the block's last row needs
            for (int r = 0; r < RB; r++)
                for (size_t c = 0; c < 32; c++) qs4[r][c] = q[(i + r) * ld + c] * scale;
            for (size_t jb = 0; jb < nmax; jb += SPAN)
                weighted_rows4(qs4[0], qs4[1], qs4[2], qs4[3], kt + jb, tp, 32, 4, s4[0] + jb, s4[1] + jb, s4[2] + jb, s4[3] + jb, 0);
            for (int r = 0; r < RB; r++) {
                float *sr = p + (i + r) * t, *row = s4[r];
                size_t n = i + r + 1, n16 = (n + BLK - 1) / BLK * BLK;  // whole vectors: see tc_attend_cached
                float mx = max_of(row, n);
                float sum = 0;
                for (size_t j = 0; j < n16; j++) { float e = fast_expf(row[j] - mx); e = j < n ? e : 0.0f; row[j] = e; sum += e; }
                float inv = 1.0f / sum;
                for (size_t j = 0; j < n; j++) sr[j] = row[j] * inv;
                for (size_t j = n; j < t; j++) sr[j] = 0;
            }
            const float *p0 = p + i * t;
            weighted_rows4(p0, p0 + t, p0 + 2 * t, p0 + 3 * t, v, ld, nmax, 2,
                           out + i * ldo, out + (i + 1) * ldo, out + (i + 2) * ldo, out + (i + 3) * ldo, 0);
        }
    }
    for (; i < t; i++) {
        float *s = p + i * t;
        const float *qi = q + i * ld;
        for (size_t c = 0; c < hd; c++) qs[c] = qi[c] * scale;
        size_t n = i + 1;
        for (size_t jb = 0; jb < n; jb += SPAN) weighted_rows_span(qs, kt + jb, tp, hd, srow + jb);
        float mx = max_of(srow, n);
        float sum = 0;
        for (size_t j = 0; j < n; j++) { float e = fast_expf(srow[j] - mx); srow[j] = e; sum += e; }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < n; j++) s[j] = srow[j] * inv;
        for (size_t j = n; j < t; j++) s[j] = 0;
        weighted_sum(s, v, ld, n, hd, out + i * ldo, 0);
    }
}

CLONES void tc_attention_backward(const float *restrict q, const float *restrict k, const float *restrict v, size_t ld,
                                  const float *restrict p, const float *restrict dy, size_t ldo,
                                  float *restrict dq, float *restrict dk, float *restrict dv,
                                  size_t t, size_t hd, float scale, int overwrite, float *restrict scratch) {
    REASSOCIATE
    size_t tp = pad_span(t);
    float *vt = scratch, *ds = scratch + hd * tp;  // ds: [t, tp]
    int accumulate = !overwrite;
    for (size_t c = 0; c < hd; c++) {
        for (size_t j = 0; j < t; j++) vt[c * tp + j] = v[j * ld + c];
        for (size_t j = t; j < tp; j++) vt[c * tp + j] = 0;
    }
    float col[4096 + SPAN], col2[4096];
    // dS = P ∘ (dP − rowsum(P ∘ dP)) · scale, with dP = dY · Vᵀ on the causal part; then dQ[i] = Σ_j dS[i,j] K[j].
    // Blocks of four rows write dS up to the block's last column, zero past each row's own: the column
    // pass below reads those zeros.
    size_t i = 0;
    if (hd == 32) {
        for (; i + RB <= t; i += RB) {
            size_t nmax = i + RB;
            const float *dy0 = dy + i * ldo;
            float *ds0 = ds + i * tp;
            for (size_t jb = 0; jb < nmax; jb += SPAN)
                weighted_rows4(dy0, dy0 + ldo, dy0 + 2 * ldo, dy0 + 3 * ldo, vt + jb, tp, 32, 4,
                               ds0 + jb, ds0 + tp + jb, ds0 + 2 * tp + jb, ds0 + 3 * tp + jb, 0);
            for (int r = 0; r < RB; r++) {
                const float *pi = p + (i + r) * t;
                float *dsi = ds0 + r * tp;
                size_t n = i + r + 1;
                float dot = 0;
                for (size_t j = 0; j < n; j++) dot += pi[j] * dsi[j];
                for (size_t j = 0; j < n; j++) dsi[j] = pi[j] * (dsi[j] - dot) * scale;
                for (size_t j = n; j < nmax; j++) dsi[j] = 0;
            }
            weighted_rows4(ds0, ds0 + tp, ds0 + 2 * tp, ds0 + 3 * tp, k, ld, nmax, 2,
                           dq + i * ld, dq + (i + 1) * ld, dq + (i + 2) * ld, dq + (i + 3) * ld, accumulate);
        }
    }
    for (; i < t; i++) {
        const float *pi = p + i * t, *dyi = dy + i * ldo;
        float *dsi = ds + i * tp;
        size_t n = i + 1;
        for (size_t jb = 0; jb < n; jb += SPAN) weighted_rows_span(dyi, vt + jb, tp, hd, dsi + jb);  // ds rows are tp wide
        float dot = 0;
        for (size_t j = 0; j < n; j++) dot += pi[j] * dsi[j];
        for (size_t j = 0; j < n; j++) dsi[j] = pi[j] * (dsi[j] - dot) * scale;
        weighted_sum(dsi, k, ld, n, hd, dq + i * ld, accumulate);
    }
    // dK[j] = Σ_{i≥j} dS[i,j] Q[i] ; dV[j] = Σ_{i≥j} P[i,j] dY[i]: gather the columns, then weighted sums.
    size_t j = 0;
    if (hd == 32) {
        // Four columns at a time: dS and P hold them as four adjacent floats of each row i ≥ j.
        for (; j + RB <= t; j += RB) {
            float ak[RB][2][BLK] = {{{0}}}, av[RB][2][BLK] = {{{0}}};
            for (size_t i2 = j; i2 < t; i2++) {
                const float *qi = q + i2 * ld, *dyi = dy + i2 * ldo, *w = ds + i2 * tp + j, *pw = p + i2 * t + j;
                for (int b = 0; b < 2; b++)
                    for (int l = 0; l < BLK; l++) {
                        float x = qi[b * BLK + l], y = dyi[b * BLK + l];
                        for (int r = 0; r < RB; r++) { ak[r][b][l] += w[r] * x; av[r][b][l] += pw[r] * y; }
                    }
            }
            for (int r = 0; r < RB; r++) {
                float *dkr = dk + (j + r) * ld, *dvr = dv + (j + r) * ld;
                for (int b = 0; b < 2; b++)
                    for (int l = 0; l < BLK; l++) {
                        if (accumulate) { dkr[b * BLK + l] += ak[r][b][l]; dvr[b * BLK + l] += av[r][b][l]; }
                        else { dkr[b * BLK + l] = ak[r][b][l]; dvr[b * BLK + l] = av[r][b][l]; }
                    }
            }
        }
    }
    for (; j < t; j++) {
        size_t m = t - j;
        for (size_t i = j; i < t; i++) { col[i - j] = ds[i * tp + j]; col2[i - j] = p[i * t + j]; }
        weighted_sum(col, q + j * ld, ld, m, hd, dk + j * ld, accumulate);
        weighted_sum(col2, dy + j * ldo, ldo, m, hd, dv + j * ld, accumulate);
    }
}

uint64_t tc_fnv1a64(const uint8_t *bytes, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= bytes[i]; h *= 1099511628211ULL; }
    return h;
}

size_t tc_first_beyond(const float *x, size_t n, float bound) {
    // Blocks of 1024 are checked branch-free (vectorised: a router's 2M weights in well under a
    // millisecond); only a block holding a bad value is scanned element by element. NaN fails `<=`.
    for (size_t start = 0; start < n; start += 1024) {
        size_t end = start + 1024 < n ? start + 1024 : n;
        int bad = 0;
        for (size_t i = start; i < end; i++) bad |= !(fabsf(x[i]) <= bound);
        if (bad) {
            for (size_t i = start; i < end; i++) if (!(fabsf(x[i]) <= bound)) return i;
        }
    }
    return n;
}
