// The kernels of the recipe's architecture options: the squared-ReLU MLP activation, RMS
// normalisation of each head's queries and keys (QK-norm), and rotary position embeddings (RoPE).
// All work on the fused projection rows [rows, 3·d] (q, then k, then v; heads contiguous inside each),
// in place where the forward pass allows it, so training and decoding share one implementation.
#include <math.h>
#include "CKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__)) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

// The per-head sums may be reordered so that they vectorise (a fixed order per build and CPU: runs stay
// reproducible), as in kernels.c.
#if defined(__clang__)
#define REASSOCIATE _Pragma("clang fp reassociate(on)")
#else
#define REASSOCIATE
#endif

CLONES void tc_relu2_forward(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float r = x[i] > 0 ? x[i] : 0;
        y[i] = r * r;
    }
}

CLONES void tc_relu2_backward(const float *restrict x, const float *restrict dy, float *restrict dx, size_t n, int overwrite) {
    for (size_t i = 0; i < n; i++) {
        float g = x[i] > 0 ? 2 * x[i] * dy[i] : 0;
        dx[i] = overwrite ? g : dx[i] + g;
    }
}

CLONES void tc_qk_rmsnorm_forward(const float *src, size_t lds, float *dst, size_t ldd,
                                  size_t rows, size_t d, size_t heads, const float *restrict qgain,
                                  const float *restrict kgain, float *restrict rinv, float eps) {
    REASSOCIATE
    size_t hd = d / heads;
    for (size_t r = 0; r < rows; r++) {
        for (size_t s = 0; s < 2 * heads; s++) {  // q heads, then k heads
            const float *x = src + r * lds + s * hd;
            float *y = dst + r * ldd + s * hd;
            const float *g = s < heads ? qgain : kgain;
            float ss = 0;
            for (size_t i = 0; i < hd; i++) ss += x[i] * x[i];
            float ri = 1.0f / sqrtf(ss / (float)hd + eps);
            if (rinv) rinv[r * 2 * heads + s] = ri;
            for (size_t i = 0; i < hd; i++) y[i] = x[i] * ri * g[i];
        }
    }
}

CLONES void tc_qk_rmsnorm_backward(const float *restrict x, size_t ldx, const float *restrict dy, size_t lddy,
                                   float *restrict dx, size_t lddx, size_t rows, size_t d, size_t heads,
                                   const float *restrict qgain, const float *restrict kgain, const float *restrict rinv,
                                   float *restrict dqgain, float *restrict dkgain) {
    REASSOCIATE
    size_t hd = d / heads;
    for (size_t r = 0; r < rows; r++) {
        for (size_t s = 0; s < 2 * heads; s++) {
            const float *xs = x + r * ldx + s * hd, *dys = dy + r * lddy + s * hd;
            float *dxs = dx + r * lddx + s * hd;
            const float *g = s < heads ? qgain : kgain;
            float *dg = s < heads ? dqgain : dkgain;
            float ri = rinv[r * 2 * heads + s];
            // y = x̂·g with x̂ = x·ri: dx = ri·(u − x̂·mean(u·x̂)), u = g·dy; dg += dy·x̂
            float dot = 0;
            for (size_t i = 0; i < hd; i++) dot += g[i] * dys[i] * xs[i] * ri;
            dot /= (float)hd;
            for (size_t i = 0; i < hd; i++) {
                float xh = xs[i] * ri;
                dxs[i] = ri * (g[i] * dys[i] - xh * dot);
                dg[i] += dys[i] * xh;
            }
        }
    }
}

void tc_rope_table(float *cosv, float *sinv, size_t positions, size_t hd, float base) {
    size_t half = hd / 2;
    for (size_t p = 0; p < positions; p++) {
        for (size_t i = 0; i < half; i++) {
            double angle = (double)p * pow((double)base, -2.0 * (double)i / (double)hd);
            cosv[p * half + i] = (float)cos(angle);
            sinv[p * half + i] = (float)sin(angle);
        }
    }
}

CLONES void tc_rope_rows(const float *src, size_t lds, float *dst, size_t ldd, size_t rows, size_t d, size_t heads,
                         const int32_t *restrict positions, const float *restrict cosv, const float *restrict sinv, int inverse) {
    size_t hd = d / heads, half = hd / 2;
    float sign = inverse ? -1.0f : 1.0f;
    for (size_t r = 0; r < rows; r++) {
        const float *c = cosv + (size_t)positions[r] * half, *sn = sinv + (size_t)positions[r] * half;
        for (size_t s = 0; s < 2 * heads; s++) {
            const float *a = src + r * lds + s * hd, *b = a + half;
            float *ya = dst + r * ldd + s * hd, *yb = ya + half;
            for (size_t i = 0; i < half; i++) {
                float u = a[i], v = b[i], si = sign * sn[i];
                ya[i] = u * c[i] - v * si;
                yb[i] = u * si + v * c[i];
            }
        }
    }
}
