// Triage's worker pool: the threads that run the parallel parts of every op. A training step of `tiny`
// has about 60 parallel regions of 0.1–3 ms each; with GCD each one parked and woke a worker through the
// kernel (~130 context switches a step, each region starting late on the second core). Here a worker
// that has just finished spins for a short while watching for the next region, so back-to-back regions
// start at once, and sleeps on a condition variable when none comes. One region runs at a time: a call
// made while another is in flight (nested, or from a second thread) gets 0 and the caller runs it elsewhere.
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_WORKERS 64
// About 100 µs of pause instructions on a current x86 core: long enough to bridge the gap between two
// ops, short enough that an idle process soon stops burning a core.
#define SPIN_ROUNDS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;      // guards sleeping and starting workers
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_flag busy = ATOMIC_FLAG_INIT;                    // a region is in flight
static atomic_ulong generation;                                // bumped once per region
static atomic_long remaining;                                  // helpers still running the region
static long started;                                           // helper threads alive (index 1...)
static tc_pool_task job_fn;
static void *job_ctx;
static long job_workers;

// A helper starts with the generation current when it was created: the region that created it bumps the
// generation after pthread_create returns, and the helper must see that bump as new, however late it starts.
struct start { long index; unsigned long generation; };

static void *helper(void *arg) {
    struct start s = *(struct start *)arg;
    free(arg);
    long index = s.index;
    tc_flush_denormals();
    unsigned long seen = s.generation;
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen && spins < SPIN_ROUNDS) { CPU_RELAX(); spins++; }
        if (g == seen) {
            pthread_mutex_lock(&lock);
            while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) pthread_cond_wait(&wake, &lock);
            pthread_mutex_unlock(&lock);
        }
        seen = g;
        if (index < job_workers) {
            job_fn(job_ctx, index);
            atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel);
        }
    }
    return 0;
}

int tc_pool_run(long workers, tc_pool_task fn, void *ctx) {
    if (workers < 2 || workers > MAX_WORKERS) return 0;
    if (atomic_flag_test_and_set_explicit(&busy, memory_order_acquire)) return 0;
    if (started < workers - 1) {
        pthread_mutex_lock(&lock);
        while (started < workers - 1) {
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            struct start *s = malloc(sizeof *s);
            if (!s) break;
            s->index = started + 1;
            s->generation = atomic_load_explicit(&generation, memory_order_relaxed);
            int failed = pthread_create(&t, &attr, helper, s);
            if (failed) free(s);
            pthread_attr_destroy(&attr);
            if (failed) break;
            started++;
        }
        pthread_mutex_unlock(&lock);
        if (started < workers - 1) { atomic_flag_clear_explicit(&busy, memory_order_release); return 0; }
    }
    job_fn = fn;
    job_ctx = ctx;
    job_workers = workers;
    atomic_store_explicit(&remaining, workers - 1, memory_order_relaxed);
    // The new generation publishes the job; waking under the lock cannot miss a helper about to sleep.
    pthread_mutex_lock(&lock);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    fn(ctx, 0);
    // A helper that lost its core (more runnable threads than cores) is waited for by yielding, not spinning.
    for (int spins = 0; atomic_load_explicit(&remaining, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ROUNDS) CPU_RELAX(); else sched_yield();
    }
    atomic_flag_clear_explicit(&busy, memory_order_release);
    return 1;
}

/* ---- Interruption: SIGINT/SIGTERM set a flag that long work polls ---------------------------------- */

static volatile sig_atomic_t tc_interrupted = 0;

static void tc_on_interrupt(int sig) {
    tc_interrupted = 1;
    /* A second Ctrl-C ends the process the usual way. */
    if (sig == SIGINT) signal(SIGINT, SIG_DFL);
}

void tc_interrupt_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tc_on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int tc_interrupt_requested(void) { return tc_interrupted; }
