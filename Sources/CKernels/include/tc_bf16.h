/* tc_bf16.h - bfloat16 conversion and bf16 GEMM (oneDNN matmul) for Triage's TensorCore.
 *
 * Conventions: row-major everywhere; uint16_t holds raw bfloat16 bits; leading
 * dimensions are in elements.  All functions are thread-safe.
 *
 * Threading: a GEMM runs either
 *   - with `nthreads` OpenMP threads started from the calling thread
 *     (tc_bf16_gemm_threads / tc_bf16_gemm), or
 *   - on exactly one thread, the caller's (tc_bf16_gemm_single / tc_bf16_gemm_part).
 *     These may be called concurrently from several threads, even for the same
 *     shape: each thread gets its own oneDNN scratchpad.  This is the mode meant
 *     to be used from Triage's own worker pool (see RESULTS.md).
 */
#ifndef TC_BF16_H
#define TC_BF16_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: AMX-BF16 usable (CPU has amx_bf16+amx_tile and the kernel granted XTILEDATA),
 * 1: AVX512-BF16 (+avx512f/bw/vl),  0: neither (tc_bf16_gemm* then returns
 * TC_BF16_EUNSUPPORTED and the caller should use fp32).  Computed once.  The
 * environment variable TRIAGE_BF16_LEVEL=0|1|2 can lower (never raise) it; at
 * level 1 oneDNN is also restricted to AVX512-BF16 kernels (no AMX). */
int tc_bf16_level(void);

/* fp32 -> bf16, round to nearest even.  NaN stays NaN (quiet bit set, sign and
 * top payload bits kept).  Denormal inputs become signed zero, exactly like the
 * VCVTNEPS2BF16 instruction; the scalar fallback is bit-identical to it.
 * Overflow rounds to +-inf. */
void tc_f32_to_bf16(const float *src, uint16_t *dst, long n);
void tc_f32_to_bf16_2d(const float *src, long ld_src, uint16_t *dst, long ld_dst,
                       long rows, long cols);
/* Columns [c0, c1) of src (rows ld floats apart) to bf16 (dst rows ld values apart), adding each row
 * to colsum[c0..c1) in row order: a linear layer's output gradient cast for its two products and its
 * bias gradient summed in the same pass, with exactly tc_sum_rows_into's sums. */
void tc_f32_to_bf16_sum_rows(const float *src, long ld, uint16_t *dst, long rows, long c0, long c1, float *colsum);

/* bf16 -> fp32 (exact). */
void tc_bf16_to_f32(const uint16_t *src, float *dst, long n);
/* Scalar reference of the conversion (exported for tests). */
uint16_t tc_f32_to_bf16_scalar(float x);

enum {
    TC_BF16_OK = 0,
    TC_BF16_EUNSUPPORTED = -1, /* level 0: no bf16 hardware                    */
    TC_BF16_EINVAL = -2,       /* bad sizes / leading dimensions               */
    TC_BF16_EDNNL = -3,        /* oneDNN refused the problem or failed         */
    TC_BF16_ENOMEM = -4,
};

/* C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] (+ bias[n] on every row) + beta * C
 *   op(A) = A   (A stored m x k, lda >= k)   if !transA,  A^T (A stored k x m, lda >= m)
 *   op(B) = B   (B stored k x n, ldb >= n)   if !transB,  B^T (B stored n x k, ldb >= k)
 *   C fp32, ldc >= n; accumulation in fp32.  bias may be NULL.
 *   bias is NOT multiplied by alpha.  beta == 0: C is write-only (may hold NaN).
 * Returns TC_BF16_OK (0) or a negative TC_BF16_E* code; on failure C is untouched
 * unless the failure happened inside oneDNN's execute (never observed).
 * A oneDNN primitive is created on first use of each distinct
 * (transA, transB, m, n, k, lda, ldb, ldc, alpha, beta, bias?, threads) key and
 * cached (bounded LRU table).  Keep alpha/beta to a few distinct values. */

/* nthreads OpenMP threads (<= 0: omp_get_max_threads() of the calling thread). */
int tc_bf16_gemm_threads(int transA, int transB, long m, long n, long k, float alpha,
                         const uint16_t *a, long lda, const uint16_t *b, long ldb,
                         float beta, float *c, long ldc, const float *bias, int nthreads);

/* Default entry point: same as tc_bf16_gemm_threads(..., 0). */
int tc_bf16_gemm(int transA, int transB, long m, long n, long k, float alpha,
                 const uint16_t *a, long lda, const uint16_t *b, long ldb,
                 float beta, float *c, long ldc, const float *bias);

/* One thread, on the calling thread; safe to call concurrently. */
int tc_bf16_gemm_single(int transA, int transB, long m, long n, long k, float alpha,
                        const uint16_t *a, long lda, const uint16_t *b, long ldb,
                        float beta, float *c, long ldc, const float *bias);

/* Block `part` of `nparts` of the whole product, single-threaded: C is split
 * into nparts row blocks (or column blocks when n > m, i.e. C is wide), the
 * block boundaries rounded to multiples of 16 where possible.  Worker i of a pool of nparts
 * calls tc_bf16_gemm_part(i, nparts, <same arguments>); together they compute
 * the full product.  Returns 0 also for an empty block. */
int tc_bf16_gemm_part(int part, int nparts,
                      int transA, int transB, long m, long n, long k, float alpha,
                      const uint16_t *a, long lda, const uint16_t *b, long ldb,
                      float beta, float *c, long ldc, const float *bias);

/* Name of the oneDNN implementation chosen for this problem (e.g.
 * "brg:avx512_core_amx_bf16"), creating/caching the primitive if needed;
 * NULL on failure.  nthreads as in tc_bf16_gemm_threads, 1 for the single mode. */
const char *tc_bf16_gemm_impl(int transA, int transB, long m, long n, long k, float alpha,
                              long lda, long ldb, float beta, long ldc, int has_bias,
                              int nthreads);

/* Destroys all cached primitives (must not race with running GEMMs). */
void tc_bf16_cache_clear(void);

#ifdef __cplusplus
}
#endif
#endif
