// CKernels: the hot elementwise and row-wise loops of Triage's models, in C so that they are
// optimised (-O3) in every build configuration and compiled for several instruction sets at once.
// Every kernel works on plain contiguous float buffers; shapes are the caller's business.
#ifndef TRIAGE_CKERNELS_H
#define TRIAGE_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "tc_bf16.h"

// ---- OpenBLAS core selection (see blas_setup.c)
/// Re-initialises a DYNAMIC_ARCH OpenBLAS with OPENBLAS_CORETYPE=core. Returns 1 if the library
/// exports gotoblas_dynamic_quit/init and the reload ran, 0 otherwise (nothing changed).
int tc_openblas_reload(const char *core);
/// Stops OpenBLAS's idle worker threads (they spin after load); 0 if this OpenBLAS has no such call.
int tc_openblas_stop_threads(void);
/// Raises glibc malloc thresholds so large, short-lived tensor buffers are reused rather than unmapped.
void tc_tune_malloc(void);

/// A parallel region's body: called once per worker index (0 is the calling thread).
typedef void (*tc_pool_task)(void *ctx, long worker);
/// Runs task(ctx, 0..<workers) on the calling thread and the pool's helpers, returning when all are done.
/// Returns 0 without running anything when another region is in flight (the caller must run it otherwise).
int tc_pool_run(long workers, tc_pool_task task, void *ctx);

/* SIGINT/SIGTERM: the first sets a flag long work polls (a second SIGINT ends the process). */
void tc_interrupt_install(void);
int tc_interrupt_requested(void);

// ---- elementwise
void tc_gelu_forward(const float *x, float *y, size_t n);
/// dx += dy * gelu'(x)  (dx = … when overwrite is set: dx may then be uninitialised)
void tc_gelu_backward(const float *x, const float *dy, float *dx, size_t n, int overwrite);
void tc_add(const float *a, const float *b, float *y, size_t n);
/// y += a
void tc_accumulate(float *y, const float *a, size_t n);
/// y += alpha * a
void tc_axpy(float *y, const float *a, float alpha, size_t n);
void tc_mul(const float *a, const float *b, float *y, size_t n);
void tc_scale(const float *x, float alpha, float *y, size_t n);
double tc_sum_squares(const float *x, size_t n);
double tc_sum(const float *x, size_t n);
/// y[r, :] = x[r, :] + b  for rows of width d
void tc_add_rows(const float *x, const float *b, float *y, size_t rows, size_t d);
/// y[r, :] = b (bias broadcast, the C operand of a beta=1 gemm)
void tc_fill_rows(float *y, size_t ldy, const float *b, size_t rows, size_t d);
/// db[:] += sum over rows of dy[r, :]
void tc_sum_rows_into(const float *dy, size_t lddy, float *db, size_t rows, size_t d);

// ---- row-wise
void tc_layernorm_forward(const float *x, const float *w, const float *b, float *y,
                          float *mean, float *rstd, size_t rows, size_t d, float eps);
/// dx += ..., dw += ..., db += ... (llm.c's fused form); with overwrite, dx = ... (dx may be uninitialised)
void tc_layernorm_backward(const float *x, const float *w, const float *mean, const float *rstd,
                           const float *dy, float *dx, float *dw, float *db, size_t rows, size_t d, int overwrite);
void tc_softmax_rows(const float *x, float *y, size_t rows, size_t d);
/// dx += y * (dy - sum(dy*y))
void tc_softmax_rows_backward(const float *y, const float *dy, float *dx, size_t rows, size_t d);
/// Cross-entropy with fused log-softmax. Returns sum over rows of weight[r] * (lse - logit[target]),
/// writes nothing if dlogits is NULL, else dlogits[r] = (softmax - onehot) * weight[r] * gscale.
/// Rows with weight 0 are skipped (and their gradient is 0).
double tc_cross_entropy(const float *logits, const int32_t *targets, const float *weight,
                        float *dlogits, float gscale, size_t rows, size_t v);
/// Row-wise argmax.
void tc_argmax_rows(const float *x, int32_t *out, size_t rows, size_t d);

/// Causal attention of one (sequence, head): q, k, v rows `ld` floats apart, output rows `ldo` apart.
/// Writes the probabilities to p [t, t] (zero above the diagonal). kt is scratch of hd*pad64(t) floats; t <= 4096, hd <= 512.
void tc_attention_forward(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                          float *p, size_t t, size_t hd, float scale, float *kt);
/// Its backward pass: dq, dk, dv (rows `ld` apart) get the gradients (stored when overwrite is set, else
/// added). scratch holds (hd + t) * pad64(t) floats.
void tc_attention_backward(const float *q, const float *k, const float *v, size_t ld, const float *p,
                           const float *dy, size_t ldo, float *dq, float *dk, float *dv, size_t t, size_t hd,
                           float scale, int overwrite, float *scratch);

/// The same two passes with bf16 products (attention_bf16.c; AVX512-BF16, so callers check tc_bf16_level() >= 1):
/// probs holds pad32(t) × pad32(t) bf16 values (zero above the diagonal and past t), scratch
/// tc_attention_bf16_scratch_bytes(t, hd, backward) bytes. hd must be a multiple of 16, at most 512; returns 0,
/// or -1 (nothing written) when the shape is not supported.
size_t tc_attention_bf16_scratch_bytes(size_t t, size_t hd, int backward);
int tc_attention_forward_bf16(const float *q, const float *k, const float *v, size_t ld, float *out, size_t ldo,
                              uint16_t *probs, size_t t, size_t hd, float scale, void *scratch);
int tc_attention_backward_bf16(const float *q, const float *k, const float *v, size_t ld, const uint16_t *probs,
                               const float *dy, size_t ldo, float *dq, float *dk, float *dv, size_t t, size_t hd,
                               float scale, int overwrite, void *scratch);

// ---- architecture options (qk.c)
/// y = max(x, 0)², the squared-ReLU MLP activation.
void tc_relu2_forward(const float *x, float *y, size_t n);
/// dx += 2·max(x, 0)·dy (stored when overwrite is set).
void tc_relu2_backward(const float *x, const float *dy, float *dx, size_t n, int overwrite);
/// QK-norm: each head's query and key (the first 2·d columns of rows `lds` apart) RMS-normalised and
/// scaled by qgain/kgain [d/heads], written to dst (rows `ldd` apart; may equal src). rinv (rows·2·heads,
/// or NULL) keeps 1/rms for the backward pass.
void tc_qk_rmsnorm_forward(const float *src, size_t lds, float *dst, size_t ldd, size_t rows, size_t d, size_t heads,
                           const float *qgain, const float *kgain, float *rinv, float eps);
/// Its backward pass: dx (the q and k columns) is stored; dqgain and dkgain are added to.
void tc_qk_rmsnorm_backward(const float *x, size_t ldx, const float *dy, size_t lddy, float *dx, size_t lddx,
                            size_t rows, size_t d, size_t heads, const float *qgain, const float *kgain, const float *rinv,
                            float *dqgain, float *dkgain);
/// cos and sin of position·base^(−2i/hd) for positions × hd/2 (RoPE's table, made once per model).
void tc_rope_table(float *cosv, float *sinv, size_t positions, size_t hd, float base);
/// Rotates each head's query and key of each row (pairs i, i + hd/2; the first 2·d columns of src) by its
/// row's position into dst (may equal src); `inverse` rotates back (the backward pass).
void tc_rope_rows(const float *src, size_t lds, float *dst, size_t ldd, size_t rows, size_t d, size_t heads,
                  const int32_t *positions, const float *cosv, const float *sinv, int inverse);

// ---- optimiser
/// PyTorch's AdamW, one tensor: p *= 1 - lr*wd; m, v moments; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
void tc_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, float bc1, float bc2);

// ---- decoding
/// One query against the cached keys and values of one head: out = softmax(q·Kᵀ·scale)·V over n positions.
/// Keys are stored transposed (kt[c * ctx + j] is key j's component c); value rows are `vstride` apart.
void tc_attend_cached(const float *q, const float *kt, const float *v, size_t n, size_t hd, size_t ctx,
                      size_t vstride, float scale, float *scores, float *out);

/// y[m, out] = x[m, in] · wt[in, ldw] (its first `out` columns) + b, for the few rows of a decoding step.
/// `wt` is the weight matrix transposed once (ldw ≥ out rounded up to 32, padding zero), so no call
/// packs the weights as sgemm does; rows go in blocks of 8 × 32 outputs held in registers.
void tc_linear_rows(const float *x, size_t m, size_t in, const float *wt, size_t ldw, const float *b,
                    float *y, size_t out);

/// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: a prompt's keys into the transposed cache.
void tc_transpose(const float *src, size_t lds, size_t rows, size_t cols, float *dst, size_t ldd);

// ---- floating-point environment
/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR; a no-op elsewhere).
/// Without them a product whose operands hold denormals (late in training: tiny gradients, decayed
/// weights) runs through microcode assists: a 7.6M-parameter model's training slowed 2.5x over 1,000 steps.
void tc_flush_denormals(void);

// ---- hashing (router features)
uint64_t tc_fnv1a64(const uint8_t *bytes, size_t n);

/// Index of the first value that is NaN or whose magnitude exceeds `bound`; n when there is none.
size_t tc_first_beyond(const float *x, size_t n, float bound);
#endif
