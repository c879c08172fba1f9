"""The process case on Python, the baseline for corio-bench's process family.

Usage: process_py.py RT_SECONDS TP_SECONDS WORKERS

A concurrent.futures.ProcessPoolExecutor(WORKERS) runs echo(): 64 bytes in,
the same 64 bytes out, as corio's side runs its echo job through
corio_run_in_process.

  round trip  one job at a time, pool.submit(echo, data).result(), for
              RT_SECONDS; microseconds per job.
  throughput  a fixed total of jobs, every one submitted at once (what
              Python code does with a pool), timed from the first submit to
              the last result; the total is sized by a first, untimed run
              so that the timed one lasts about TP_SECONDS.

The pool is started and warmed up before anything is timed. Prints one line:
"roundtrip_us=<float> throughput_jobs_s=<float> jobs=<int>".
"""

import concurrent.futures
import sys
import time

MSG = 64


def echo(data):
    return bytes(data)


def throughput(pool, data, n):
    t0 = time.perf_counter()
    futures = [pool.submit(echo, data) for _ in range(n)]
    for f in futures:
        if len(f.result()) != MSG:
            sys.exit("echo returned the wrong size")
    return time.perf_counter() - t0


def run():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    rt_seconds = float(sys.argv[1])
    tp_seconds = float(sys.argv[2])
    workers = int(sys.argv[3])
    data = bytes(range(MSG))

    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        # Starts every worker (they start lazily) and warms the path up.
        for _ in range(200):
            pool.submit(echo, data).result()
        throughput(pool, data, 4 * workers)

        n = 0
        t0 = time.perf_counter()
        end = t0 + rt_seconds
        while True:
            if len(pool.submit(echo, data).result()) != MSG:
                sys.exit("echo returned the wrong size")
            n += 1
            if time.perf_counter() >= end:
                break
        rt_us = (time.perf_counter() - t0) * 1e6 / n

        sizing = 2000
        rate = sizing / throughput(pool, data, sizing)
        jobs = max(sizing, int(rate * tp_seconds))
        tp = jobs / throughput(pool, data, jobs)

    print(f"roundtrip_us={rt_us:.3f} throughput_jobs_s={tp:.1f} jobs={jobs}", flush=True)


if __name__ == "__main__":
    run()
