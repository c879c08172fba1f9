"""The sleep case on Python asyncio, the baseline for corio-bench's sleep family.

Usage: sleep_asyncio.py N MS

Creates N tasks that each sleep MS milliseconds and gathers them, inside one
asyncio.run(), exactly as corio's side spawns and gathers. Prints one line,
"wall_ms=<float> maxrss_kib=<int>": the wall time of asyncio.run() (setup and
teardown included, as corio's figure includes corio_run's) and the process's
peak RSS, which corio-bench compares with an N=0 run to get the memory per task.
"""

import asyncio
import resource
import sys
import time


async def sleeper(seconds):
    await asyncio.sleep(seconds)


async def main(n, seconds):
    tasks = [asyncio.create_task(sleeper(seconds)) for _ in range(n)]
    await asyncio.gather(*tasks)


def run():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    seconds = int(sys.argv[2]) / 1000
    t0 = time.perf_counter()
    asyncio.run(main(n, seconds))
    wall_ms = (time.perf_counter() - t0) * 1000
    # On Linux ru_maxrss is in KiB.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"wall_ms={wall_ms:.3f} maxrss_kib={rss}", flush=True)


if __name__ == "__main__":
    run()
