// In-process OpenBLAS core switch. DYNAMIC_ARCH builds pick their kernel table when the library
// loads; Debian's 0.3.21 mistakes newer CPUs for 'Prescott'. Calling gotoblas_dynamic_quit, setting
// OPENBLAS_CORETYPE and calling gotoblas_dynamic_init installs the right table before the first call.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include "CKernels.h"

int tc_openblas_reload(const char *core) {
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init) return 0;
    setenv("OPENBLAS_CORETYPE", core, 1);
    quit();
    init();
    return 1;
}

#include <malloc.h>
void tc_tune_malloc(void) {
    // Tensor buffers of a training step are freed and reallocated every step: keep them in the heap
    // instead of mmap/munmap (and page faults) each time.
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

int tc_openblas_stop_threads(void) {
    // OpenBLAS starts its worker threads when it loads, and an idle worker polls with sched_yield for
    // about 0.1 s before it sleeps: on two cores that is half the machine during every cold start
    // (`perf`: a quarter of `triage complete`'s samples in the scheduler). Triage runs OpenBLAS
    // single-threaded, so the workers are stopped; OpenBLAS starts them again if a call ever asks.
    void (*shutdown)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (!shutdown) return 0;
    shutdown();
    return 1;
}
