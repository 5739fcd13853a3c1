"""numpy's `a @ b` (float32) for the shapes of `triage bench gemm`, timed the same way: best and median
of >= 20 calls. numpy's wheel carries its own OpenBLAS; run with OPENBLAS_NUM_THREADS set to the thread
count under test. Prints one JSON object per shape."""
import json
import os
import sys
import time

import numpy as np

SHAPES = [(1024, 1024, 1024), (4096, 128, 384), (4096, 128, 512), (4096, 512, 128)]  # (m, k, n)


def main():
    rng = np.random.default_rng(1)
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        for _ in range(3):
            np.matmul(a, b, out=c)
        times = []
        start = time.perf_counter()
        while len(times) < 20 or (time.perf_counter() - start < 0.6 and len(times) < 2000):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            times.append(time.perf_counter() - t0)
        times.sort()
        flop = 2.0 * m * n * k
        core = None
        try:
            from threadpoolctl import threadpool_info
            core = ";".join(str(i.get("architecture")) for i in threadpool_info() if i.get("internal_api") == "openblas")
        except Exception:
            pass
        print(json.dumps({"peer": "numpy", "numpy": np.__version__, "m": m, "n": n, "k": k,
                          "gflops": flop / times[0] / 1e9, "gflops_median": flop / times[len(times) // 2] / 1e9,
                          "calls": len(times), "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")), "core": core}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
