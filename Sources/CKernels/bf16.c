/* tc_bf16.c - bfloat16 conversion and bf16 GEMM on oneDNN 2.6 (C API) for Triage.
 *
 * Compiled without -march (the AVX-512 code carries target attributes), so one binary runs on any x86-64;
 * links oneDNN (Debian libdnnl-dev). Measured against OpenBLAS fp32 in Benchmarks/bf16_kernels.md.
 */
#define _GNU_SOURCE
#include "tc_bf16.h"

#include <cpuid.h>
#include <immintrin.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.h>

/* oneDNN is opened on first use (dlopen), not linked: loading and relocating it and its dependencies
 * (libgomp, libOpenCL) cost every process about 2 ms, and most commands (ask, complete, route) never
 * run a bf16 product. Each function it calls is reached through a pointer resolved once, in tc_init;
 * without the library the level is 0 and products run in fp32. */
#define TC_DNNL_FUNCTIONS(X) \
    X(dnnl_engine_create) \
    X(dnnl_matmul_desc_init) \
    X(dnnl_memory_create) \
    X(dnnl_memory_desc_get_size) \
    X(dnnl_memory_desc_init_by_strides) \
    X(dnnl_memory_destroy) \
    X(dnnl_post_ops_append_binary) \
    X(dnnl_post_ops_append_sum) \
    X(dnnl_post_ops_create) \
    X(dnnl_post_ops_destroy) \
    X(dnnl_primitive_attr_create) \
    X(dnnl_primitive_attr_destroy) \
    X(dnnl_primitive_attr_set_output_scales) \
    X(dnnl_primitive_attr_set_post_ops) \
    X(dnnl_primitive_attr_set_scratchpad_mode) \
    X(dnnl_primitive_create) \
    X(dnnl_primitive_desc_create) \
    X(dnnl_primitive_desc_destroy) \
    X(dnnl_primitive_desc_query) \
    X(dnnl_primitive_desc_query_md) \
    X(dnnl_primitive_destroy) \
    X(dnnl_primitive_execute) \
    X(dnnl_set_max_cpu_isa) \
    X(dnnl_stream_create) \
    X(dnnl_stream_destroy) \
    X(dnnl_stream_wait)
#define TC_DNNL_POINTER(f) static __typeof__(&f) p_##f;
TC_DNNL_FUNCTIONS(TC_DNNL_POINTER)

static int tc_dnnl_open(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);  /* global: libgomp's omp_* for omp_resolve */
    if (!h) h = dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL);
    if (!h) return 0;
#define TC_DNNL_RESOLVE(f) if (!(p_##f = (__typeof__(&f))dlsym(h, #f))) return 0;
    TC_DNNL_FUNCTIONS(TC_DNNL_RESOLVE)
    return 1;
}

#define dnnl_engine_create (*p_dnnl_engine_create)
#define dnnl_matmul_desc_init (*p_dnnl_matmul_desc_init)
#define dnnl_memory_create (*p_dnnl_memory_create)
#define dnnl_memory_desc_get_size (*p_dnnl_memory_desc_get_size)
#define dnnl_memory_desc_init_by_strides (*p_dnnl_memory_desc_init_by_strides)
#define dnnl_memory_destroy (*p_dnnl_memory_destroy)
#define dnnl_post_ops_append_binary (*p_dnnl_post_ops_append_binary)
#define dnnl_post_ops_append_sum (*p_dnnl_post_ops_append_sum)
#define dnnl_post_ops_create (*p_dnnl_post_ops_create)
#define dnnl_post_ops_destroy (*p_dnnl_post_ops_destroy)
#define dnnl_primitive_attr_create (*p_dnnl_primitive_attr_create)
#define dnnl_primitive_attr_destroy (*p_dnnl_primitive_attr_destroy)
#define dnnl_primitive_attr_set_output_scales (*p_dnnl_primitive_attr_set_output_scales)
#define dnnl_primitive_attr_set_post_ops (*p_dnnl_primitive_attr_set_post_ops)
#define dnnl_primitive_attr_set_scratchpad_mode (*p_dnnl_primitive_attr_set_scratchpad_mode)
#define dnnl_primitive_create (*p_dnnl_primitive_create)
#define dnnl_primitive_desc_create (*p_dnnl_primitive_desc_create)
#define dnnl_primitive_desc_destroy (*p_dnnl_primitive_desc_destroy)
#define dnnl_primitive_desc_query (*p_dnnl_primitive_desc_query)
#define dnnl_primitive_desc_query_md (*p_dnnl_primitive_desc_query_md)
#define dnnl_primitive_destroy (*p_dnnl_primitive_destroy)
#define dnnl_primitive_execute (*p_dnnl_primitive_execute)
#define dnnl_set_max_cpu_isa (*p_dnnl_set_max_cpu_isa)
#define dnnl_stream_create (*p_dnnl_stream_create)
#define dnnl_stream_destroy (*p_dnnl_stream_destroy)
#define dnnl_stream_wait (*p_dnnl_stream_wait)

/* oneDNN's OpenMP runtime (libgomp, loaded as a dependency of libdnnl) is reached through dlsym:
 * Debian ships no unversioned libgomp.so to link against, and a process without it simply keeps
 * oneDNN's defaults. The thread count is a per-thread ICV, so setting it here affects only the caller. */
static int (*omp_get_max_threads_fn)(void);
static void (*omp_set_num_threads_fn)(int);
static pthread_once_t omp_once = PTHREAD_ONCE_INIT;
static void omp_resolve(void) {
    (void)tc_bf16_level();  /* opens oneDNN (and with it libgomp) first */
    omp_get_max_threads_fn = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    omp_set_num_threads_fn = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
}
static int omp_get_max_threads(void) {
    pthread_once(&omp_once, omp_resolve);
    return omp_get_max_threads_fn ? omp_get_max_threads_fn() : 1;
}
static void omp_set_num_threads(int n) {
    pthread_once(&omp_once, omp_resolve);
    if (omp_set_num_threads_fn) omp_set_num_threads_fn(n);
}

#define TC_ARCH_REQ_XCOMP_PERM 0x1023
#define TC_XFEATURE_XTILEDATA 18

/* ------------------------------------------------------------------------ */
/* Capability level                                                          */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_level;            /* effective level (after env lowering)     */
static int g_hw_level;         /* what the hardware/OS supports            */
static dnnl_engine_t g_engine; /* NULL if oneDNN could not be initialised  */

static uint64_t tc_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int detect_hw_level(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 27))) return 0; /* OSXSAVE: xgetbv usable */
    uint64_t xcr0 = tc_xgetbv0();
    /* AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM) + SSE/AVX enabled by the OS */
    if ((xcr0 & 0xe6) != 0xe6) return 0;

    __cpuid_count(7, 0, a, b, c, d);
    unsigned ebx7 = b, edx7 = d, max_sub = a;
    int f = (ebx7 >> 16) & 1, bw = (ebx7 >> 30) & 1, vl = (ebx7 >> 31) & 1;
    int bf16 = 0;
    if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        bf16 = (a >> 5) & 1;
    }
    if (!(f && bw && vl && bf16)) return 0;

    int amx_bf16 = (edx7 >> 22) & 1, amx_tile = (edx7 >> 24) & 1;
    /* XTILECFG(17)+XTILEDATA(18) in XCR0, then ask the kernel for permission */
    if (amx_bf16 && amx_tile && (xcr0 & (3ull << 17)) == (3ull << 17) &&
        syscall(SYS_arch_prctl, TC_ARCH_REQ_XCOMP_PERM, TC_XFEATURE_XTILEDATA) == 0)
        return 2;
    return 1;
}

static void tc_init(void)
{
    g_hw_level = detect_hw_level();
    g_level = g_hw_level;
    const char *e = getenv("TRIAGE_BF16_LEVEL");
    if (e && e[0] >= '0' && e[0] <= '2' && e[1] == 0) {
        int want = e[0] - '0';
        if (want < g_level) g_level = want;
    }
    if (g_level == 0) return;
    if (!tc_dnnl_open()) { g_level = 0; return; }
    /* Restrict oneDNN when lowered to level 1 (must precede any primitive). */
    if (g_level == 1) dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_bf16);
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}

int tc_bf16_level(void)
{
    pthread_once(&g_once, tc_init);
    return g_level;
}

/* ------------------------------------------------------------------------ */
/* Conversions                                                               */

uint16_t tc_f32_to_bf16_scalar(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* qNaN */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u); /* 0/denormal -> +-0 */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);          /* RNE */
}

static void cvt_scalar(const float *src, uint16_t *dst, long n)
{
    for (long i = 0; i < n; i++) dst[i] = tc_f32_to_bf16_scalar(src[i]);
}

#define TC_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

TC_AVX512BF16 static void cvt_avx512(const float *src, uint16_t *dst, long n)
{
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
    }
    for (; i < n; i += 16) {
        long r = n - i;
        __mmask16 mk = r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, src + i));
        _mm256_mask_storeu_epi16((void *)(dst + i), mk, (__m256i)v);
    }
}

TC_AVX512BF16 static void widen_avx512(const uint16_t *src, float *dst, long n)
{
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_si512((void *)(dst + i), _mm512_slli_epi32(w, 16));
    }
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, src + i));
        _mm512_mask_storeu_ps(dst + i, mk, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
}

void tc_f32_to_bf16(const float *src, uint16_t *dst, long n)
{
    if (n <= 0) return;
    if (tc_bf16_level() >= 1) cvt_avx512(src, dst, n);
    else cvt_scalar(src, dst, n);
}

void tc_f32_to_bf16_2d(const float *src, long ld_src, uint16_t *dst, long ld_dst,
                       long rows, long cols)
{
    if (rows <= 0 || cols <= 0) return;
    if (ld_src == cols && ld_dst == cols) { tc_f32_to_bf16(src, dst, rows * cols); return; }
    int vec = tc_bf16_level() >= 1;
    for (long r = 0; r < rows; r++) {
        if (vec) cvt_avx512(src + r * ld_src, dst + r * ld_dst, cols);
        else cvt_scalar(src + r * ld_src, dst + r * ld_dst, cols);
    }
}

/* Four 16-column vectors per pass over the rows: four independent sums, whole cache lines read. */
TC_AVX512BF16 static void cvt_sum_rows_avx512(const float *src, long ld, uint16_t *dst, long rows, long c0, long c1, float *colsum)
{
    for (long j = c0; j < c1; j += 64) {
        __mmask16 mk[4];
        __m512 acc[4];
        for (int v = 0; v < 4; v++) {
            long r = c1 - (j + 16 * v);
            mk[v] = r >= 16 ? (__mmask16)0xffff : r <= 0 ? (__mmask16)0 : (__mmask16)((1u << r) - 1);
            acc[v] = _mm512_maskz_loadu_ps(mk[v], colsum + j + 16 * v);
        }
        for (long i = 0; i < rows; i++)
            for (int v = 0; v < 4; v++) {
                __m512 x = _mm512_maskz_loadu_ps(mk[v], src + i * ld + j + 16 * v);
                acc[v] = _mm512_add_ps(acc[v], x);
                _mm256_mask_storeu_epi16((void *)(dst + i * ld + j + 16 * v), mk[v], (__m256i)_mm512_cvtneps_pbh(x));
            }
        for (int v = 0; v < 4; v++) _mm512_mask_storeu_ps(colsum + j + 16 * v, mk[v], acc[v]);
    }
}

void tc_f32_to_bf16_sum_rows(const float *src, long ld, uint16_t *dst, long rows, long c0, long c1, float *colsum)
{
    if (rows <= 0 || c1 <= c0) return;
    if (tc_bf16_level() >= 1) { cvt_sum_rows_avx512(src, ld, dst, rows, c0, c1, colsum); return; }
    for (long i = 0; i < rows; i++)
        for (long j = c0; j < c1; j++) {
            colsum[j] += src[i * ld + j];
            dst[i * ld + j] = tc_f32_to_bf16_scalar(src[i * ld + j]);
        }
}

void tc_bf16_to_f32(const uint16_t *src, float *dst, long n)
{
    if (n <= 0) return;
    if (tc_bf16_level() >= 1) { widen_avx512(src, dst, n); return; }
    for (long i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

/* ------------------------------------------------------------------------ */
/* Per-thread state: a stream and a scratchpad buffer                        */

typedef struct {
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_size;
} tc_tls_t;

static pthread_key_t g_tls_key;
static pthread_once_t g_tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
    tc_tls_t *t = p;
    if (!t) return;
    if (t->stream) dnnl_stream_destroy(t->stream);
    free(t->scratch);
    free(t);
}
static void tls_init(void) { pthread_key_create(&g_tls_key, tls_free); }

static tc_tls_t *get_tls(size_t scratch_need)
{
    pthread_once(&g_tls_once, tls_init);
    tc_tls_t *t = pthread_getspecific(g_tls_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        if (dnnl_stream_create(&t->stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
            free(t);
            return NULL;
        }
        pthread_setspecific(g_tls_key, t);
    }
    if (scratch_need > t->scratch_size) {
        size_t sz = (scratch_need + 4095) & ~(size_t)4095;
        void *p = NULL;
        if (posix_memalign(&p, 4096, sz) != 0) return NULL;
        free(t->scratch);
        t->scratch = p;
        t->scratch_size = sz;
    }
    return t;
}

/* ------------------------------------------------------------------------ */
/* Primitive cache                                                           */

typedef struct {
    long m, n, k, lda, ldb, ldc;
    float alpha, beta; /* beta is the sum post-op scale (0 = no post-op)  */
    int ta, tb, bias, nthr;
} tc_key_t;

typedef struct {
    tc_key_t key;
    int used;       /* slot holds a primitive                           */
    int refs;       /* executions in flight (entry not evictable)       */
    uint64_t stamp; /* LRU                                              */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, wei_md, dst_md, bias_md, scratch_md;
    size_t scratch_size;
    int bias_post_op; /* bias passed as binary post-op #bias_po_idx   */
    int bias_po_idx;
    char impl[64];
} tc_entry_t;

#define TC_CACHE_CAP 96

static pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static tc_entry_t g_cache[TC_CACHE_CAP];
static uint64_t g_clock;

static int key_eq(const tc_key_t *x, const tc_key_t *y)
{
    return x->m == y->m && x->n == y->n && x->k == y->k && x->lda == y->lda &&
           x->ldb == y->ldb && x->ldc == y->ldc && x->ta == y->ta && x->tb == y->tb &&
           x->bias == y->bias && x->nthr == y->nthr &&
           memcmp(&x->alpha, &y->alpha, sizeof(float)) == 0 &&
           memcmp(&x->beta, &y->beta, sizeof(float)) == 0;
}

/* Build the primitive for key (called with the calling thread's OpenMP
 * max-threads already equal to key->nthr: oneDNN sizes its blocking from it). */
static int build_entry(const tc_key_t *kk, tc_entry_t *e)
{
    dnnl_dims_t sd = {kk->m, kk->k}, wd = {kk->k, kk->n}, dd = {kk->m, kk->n}, bd = {1, kk->n};
    dnnl_dims_t ss, ws, ds = {kk->ldc, 1}, bs = {kk->n, 1};
    if (!kk->ta) { ss[0] = kk->lda; ss[1] = 1; } else { ss[0] = 1; ss[1] = kk->lda; }
    if (!kk->tb) { ws[0] = kk->ldb; ws[1] = 1; } else { ws[0] = 1; ws[1] = kk->ldb; }

    memset(e, 0, sizeof *e);
    e->key = *kk;
    if (dnnl_memory_desc_init_by_strides(&e->src_md, 2, sd, dnnl_bf16, ss) ||
        dnnl_memory_desc_init_by_strides(&e->wei_md, 2, wd, dnnl_bf16, ws) ||
        dnnl_memory_desc_init_by_strides(&e->dst_md, 2, dd, dnnl_f32, ds) ||
        dnnl_memory_desc_init_by_strides(&e->bias_md, 2, bd, dnnl_f32, bs))
        return TC_BF16_EDNNL;

    /* oneDNN applies output scales after the native bias:
     * dst = oscale * (src*wei + bias).  With alpha != 1 the bias is therefore
     * added by a binary post-op instead, which comes after the scaling. */
    e->bias_post_op = kk->bias && kk->alpha != 1.0f;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &e->src_md, &e->wei_md,
                              kk->bias && !e->bias_post_op ? &e->bias_md : NULL,
                              &e->dst_md) != dnnl_success)
        return TC_BF16_EDNNL;

    int rc = TC_BF16_EDNNL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return TC_BF16_EDNNL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) goto out;
    if (kk->alpha != 1.0f && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &kk->alpha))
        goto out;
    if (kk->beta != 0.0f || e->bias_post_op) {
        if (dnnl_post_ops_create(&po)) goto out;
        if (kk->beta != 0.0f && dnnl_post_ops_append_sum(po, kk->beta)) goto out;
        if (e->bias_post_op) {
            e->bias_po_idx = kk->beta != 0.0f ? 1 : 0;
            if (dnnl_post_ops_append_binary(po, dnnl_binary_add, &e->bias_md)) goto out;
        }
        if (dnnl_primitive_attr_set_post_ops(attr, po)) goto out;
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, g_engine, NULL) != dnnl_success) goto out;

    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->scratch_size = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (e->scratch_size) e->scratch_md = *smd;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        strncpy(e->impl, impl, sizeof e->impl - 1);
    if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) { e->prim = NULL; goto out; }
    rc = TC_BF16_OK;
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Returns a referenced entry (release with cache_release) or NULL + *err.
 * An entry that could not be inserted (all slots busy) is heap-allocated and
 * flagged with used == 2: it is destroyed on release. */
static tc_entry_t *cache_acquire(const tc_key_t *kk, int *err)
{
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < TC_CACHE_CAP; i++) {
        tc_entry_t *e = &g_cache[i];
        if (e->used && key_eq(&e->key, kk)) {
            e->refs++;
            e->stamp = ++g_clock;
            pthread_mutex_unlock(&g_cache_mu);
            return e;
        }
    }
    pthread_mutex_unlock(&g_cache_mu);

    /* Create outside the lock (can take ~ms); another thread may race us. */
    tc_entry_t fresh;
    int rc = build_entry(kk, &fresh);
    if (rc) { *err = rc; return NULL; }

    pthread_mutex_lock(&g_cache_mu);
    tc_entry_t *victim = NULL;
    for (int i = 0; i < TC_CACHE_CAP; i++) {
        tc_entry_t *e = &g_cache[i];
        if (e->used && key_eq(&e->key, kk)) { /* lost the race: use theirs */
            e->refs++;
            e->stamp = ++g_clock;
            pthread_mutex_unlock(&g_cache_mu);
            dnnl_primitive_destroy(fresh.prim);
            return e;
        }
        if (!e->used) { if (!victim || victim->used) victim = e; }
        else if (e->refs == 0 && (!victim || (victim->used && e->stamp < victim->stamp)))
            victim = e;
    }
    if (victim) {
        dnnl_primitive_t old = victim->used ? victim->prim : NULL;
        *victim = fresh;
        victim->used = 1;
        victim->refs = 1;
        victim->stamp = ++g_clock;
        pthread_mutex_unlock(&g_cache_mu);
        if (old) dnnl_primitive_destroy(old);
        return victim;
    }
    pthread_mutex_unlock(&g_cache_mu);
    tc_entry_t *h = malloc(sizeof *h);
    if (!h) { dnnl_primitive_destroy(fresh.prim); *err = TC_BF16_ENOMEM; return NULL; }
    *h = fresh;
    h->used = 2;
    h->refs = 1;
    return h;
}

static void cache_release(tc_entry_t *e)
{
    if (e->used == 2) { dnnl_primitive_destroy(e->prim); free(e); return; }
    pthread_mutex_lock(&g_cache_mu);
    e->refs--;
    pthread_mutex_unlock(&g_cache_mu);
}

void tc_bf16_cache_clear(void)
{
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < TC_CACHE_CAP; i++) {
        if (g_cache[i].used && g_cache[i].refs == 0) {
            dnnl_primitive_destroy(g_cache[i].prim);
            memset(&g_cache[i], 0, sizeof g_cache[i]);
        }
    }
    pthread_mutex_unlock(&g_cache_mu);
}

/* ------------------------------------------------------------------------ */
/* GEMM                                                                      */

static int check_args(int ta, int tb, long m, long n, long k, long lda, long ldb, long ldc)
{
    if (m < 0 || n < 0 || k < 0) return TC_BF16_EINVAL;
    if (lda < (ta ? m : k) || lda < 1) return TC_BF16_EINVAL;
    if (ldb < (tb ? k : n) || ldb < 1) return TC_BF16_EINVAL;
    if (ldc < n || ldc < 1) return TC_BF16_EINVAL;
    return TC_BF16_OK;
}

/* k == 0: C = beta*C + bias (no product). */
static void gemm_k0(long m, long n, float beta, float *c, long ldc, const float *bias)
{
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            float v = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            c[i * ldc + j] = v + (bias ? bias[j] : 0.0f);
        }
}

static int gemm_run(int nthr, int ta, int tb, long m, long n, long k, float alpha,
                    const uint16_t *a, long lda, const uint16_t *b, long ldb, float beta,
                    float *c, long ldc, const float *bias)
{
    if (tc_bf16_level() == 0) return TC_BF16_EUNSUPPORTED;
    if (!g_engine) return TC_BF16_EDNNL;
    ta = !!ta;
    tb = !!tb;
    int rc = check_args(ta, tb, m, n, k, lda, ldb, ldc);
    if (rc) return rc;
    if (m == 0 || n == 0) return TC_BF16_OK;
    if (k == 0) { gemm_k0(m, n, beta, c, ldc, bias); return TC_BF16_OK; }

    tc_key_t kk;
    memset(&kk, 0, sizeof kk); /* padding-free compare anyway, but keep it clean */
    kk.m = m; kk.n = n; kk.k = k; kk.lda = lda; kk.ldb = ldb; kk.ldc = ldc;
    kk.alpha = alpha; kk.beta = beta; kk.ta = ta; kk.tb = tb; kk.bias = bias != NULL;

    /* oneDNN (OpenMP runtime) takes its thread count from the calling thread's
     * nthreads-var ICV, both when creating and when executing a primitive. */
    int saved = omp_get_max_threads();
    if (nthr <= 0) nthr = saved;
    kk.nthr = nthr;
    if (saved != nthr) omp_set_num_threads(nthr);

    tc_entry_t *e = cache_acquire(&kk, &rc);
    if (!e) goto done;
    tc_tls_t *t = get_tls(e->scratch_size);
    if (!t) { rc = TC_BF16_ENOMEM; cache_release(e); goto done; }

    dnnl_memory_t ms = NULL, mw = NULL, md = NULL, mb = NULL, mp = NULL;
    dnnl_exec_arg_t args[5];
    int na = 0;
    rc = TC_BF16_EDNNL;
    if (dnnl_memory_create(&ms, &e->src_md, g_engine, (void *)a)) goto mem_out;
    if (dnnl_memory_create(&mw, &e->wei_md, g_engine, (void *)b)) goto mem_out;
    if (dnnl_memory_create(&md, &e->dst_md, g_engine, c)) goto mem_out;
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ms};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mw};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, md};
    if (bias) {
        if (dnnl_memory_create(&mb, &e->bias_md, g_engine, (void *)bias)) goto mem_out;
        int arg = e->bias_post_op ? DNNL_ARG_ATTR_MULTIPLE_POST_OP(e->bias_po_idx) | DNNL_ARG_SRC_1
                                  : DNNL_ARG_BIAS;
        args[na++] = (dnnl_exec_arg_t){arg, mb};
    }
    if (e->scratch_size) {
        if (dnnl_memory_create(&mp, &e->scratch_md, g_engine, t->scratch)) goto mem_out;
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mp};
    }
    if (dnnl_primitive_execute(e->prim, t->stream, na, args) == dnnl_success &&
        dnnl_stream_wait(t->stream) == dnnl_success)
        rc = TC_BF16_OK;
mem_out:
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (md) dnnl_memory_destroy(md);
    if (mb) dnnl_memory_destroy(mb);
    if (mp) dnnl_memory_destroy(mp);
    cache_release(e);
done:
    if (saved != nthr) omp_set_num_threads(saved);
    return rc;
}

int tc_bf16_gemm_threads(int transA, int transB, long m, long n, long k, float alpha,
                         const uint16_t *a, long lda, const uint16_t *b, long ldb,
                         float beta, float *c, long ldc, const float *bias, int nthreads)
{
    return gemm_run(nthreads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
}

int tc_bf16_gemm(int transA, int transB, long m, long n, long k, float alpha,
                 const uint16_t *a, long lda, const uint16_t *b, long ldb,
                 float beta, float *c, long ldc, const float *bias)
{
    return gemm_run(0, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
}

int tc_bf16_gemm_single(int transA, int transB, long m, long n, long k, float alpha,
                        const uint16_t *a, long lda, const uint16_t *b, long ldb,
                        float beta, float *c, long ldc, const float *bias)
{
    return gemm_run(1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
}

int tc_bf16_gemm_part(int part, int nparts,
                      int transA, int transB, long m, long n, long k, float alpha,
                      const uint16_t *a, long lda, const uint16_t *b, long ldb,
                      float beta, float *c, long ldc, const float *bias)
{
    if (nparts < 1 || part < 0 || part >= nparts) return TC_BF16_EINVAL;
    int rc = check_args(!!transA, !!transB, m, n, k, lda, ldb, ldc);
    if (rc) return rc;
    int by_cols = n > m;
    long dim = by_cols ? n : m;
    long chunk = (dim + nparts - 1) / nparts;
    if (dim >= 16L * nparts) chunk = (chunk + 15) & ~15L;
    long lo = (long)part * chunk, hi = lo + chunk;
    if (hi > dim) hi = dim;
    if (lo >= hi) return TC_BF16_OK;
    long len = hi - lo;
    if (!by_cols) {
        const uint16_t *ap = transA ? a + lo : a + lo * lda;
        return gemm_run(1, transA, transB, len, n, k, alpha, ap, lda, b, ldb, beta,
                        c + lo * ldc, ldc, bias);
    } else {
        const uint16_t *bp = transB ? b + lo * ldb : b + lo;
        return gemm_run(1, transA, transB, m, len, k, alpha, a, lda, bp, ldb, beta,
                        c + lo, ldc, bias ? bias + lo : NULL);
    }
}

const char *tc_bf16_gemm_impl(int transA, int transB, long m, long n, long k, float alpha,
                              long lda, long ldb, float beta, long ldc, int has_bias,
                              int nthreads)
{
    if (tc_bf16_level() == 0 || !g_engine) return NULL;
    if (check_args(!!transA, !!transB, m, n, k, lda, ldb, ldc) || m == 0 || n == 0 || k == 0)
        return NULL;
    tc_key_t kk;
    memset(&kk, 0, sizeof kk);
    kk.m = m; kk.n = n; kk.k = k; kk.lda = lda; kk.ldb = ldb; kk.ldc = ldc;
    kk.alpha = alpha; kk.beta = beta; kk.ta = !!transA; kk.tb = !!transB; kk.bias = !!has_bias;
    int saved = omp_get_max_threads();
    int nthr = nthreads <= 0 ? saved : nthreads;
    kk.nthr = nthr;
    if (saved != nthr) omp_set_num_threads(nthr);
    int rc;
    tc_entry_t *e = cache_acquire(&kk, &rc);
    if (saved != nthr) omp_set_num_threads(saved);
    if (!e) return NULL;
    /* the string lives in the entry; copy to a thread-local buffer */
    static __thread char buf[64];
    memcpy(buf, e->impl, sizeof buf);
    cache_release(e);
    return buf;
}
