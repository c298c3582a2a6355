"""How much the OpenAI backend's bounded concurrency buys against a slow server.

A local OpenAI-compatible server (``wizardmath.backends.testing``) answers every request after
``--delay`` seconds (200 ms, a fast hosted model). We send ``--requests`` prompts through
``OpenAIBackend`` at ``--concurrency`` 64 and then one at a time, and compare with the ideal
concurrent time ``ceil(requests / concurrency) * delay``.

    python benchmarks/evol_bench.py                      # 500 requests: ~2 s + ~100 s sequential
    python benchmarks/evol_bench.py --sequential 50      # quicker; prints that it was a subset

The server runs in its own process (so it and the client do not share one interpreter lock), and
the backend's httpx pool is sized to the concurrency. Target: concurrent within 1.5x of ideal and
>= 30x faster than sequential. Exit code 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    """The test server in a child process; returns it and its base URL (its first stdout line)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wizardmath.backends.testing", "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"test server did not start (said {base_url!r})")
    return proc, base_url


def timed_run(base_url: str, count: int, concurrency: int, label: str) -> tuple[float, dict]:
    """Seconds to generate ``count`` prompts at ``concurrency``; checks every answer arrived.

    The stats gain ``client_cpu_s``: this process's CPU time, the part a busy machine can starve.
    """
    from wizardmath.backends import SamplingParams
    from wizardmath.backends.openai_backend import OpenAIBackend

    backend = OpenAIBackend(base_url=base_url, model="test-model", concurrency=concurrency, timeout=30.0)
    prompts = [f"{label} problem {i}" for i in range(count)]
    start, cpu = time.perf_counter(), time.process_time()
    results = backend.generate(prompts, SamplingParams(max_new_tokens=32))
    seconds = time.perf_counter() - start
    stats = {**backend.stats, "client_cpu_s": time.process_time() - cpu}
    missing = [
        i
        for i, (p, r) in enumerate(zip(prompts, results, strict=True))
        if not r[0].text.endswith(p) or r[0].error
    ]
    if missing:
        raise RuntimeError(f"{label}: {len(missing)} prompts got no answer, e.g. {missing[:5]}")
    return seconds, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument(
        "--sequential",
        type=int,
        default=None,
        help="requests in the sequential run (default: all); fewer is extrapolated and says so",
    )
    args = parser.parse_args()
    sequential_count = args.sequential or args.requests

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other processes compete for the CPUs)"
    )
    proc, base_url = start_server(args.delay)
    try:
        timed_run(base_url, 8, 8, "warmup")  # imports, first connections
        concurrent_s, stats = timed_run(base_url, args.requests, args.concurrency, "concurrent")
        print(
            f"concurrent: {args.requests} requests at concurrency {args.concurrency} in {concurrent_s:.2f} s "
            f"({stats['requests']} HTTP requests, {stats['retries_total']} retries, "
            f"client CPU {stats['client_cpu_s']:.2f} s)",
            flush=True,
        )
        sequential_s, _ = timed_run(base_url, sequential_count, 1, "sequential")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    if sequential_count == args.requests:
        print(f"sequential: {args.requests} requests one at a time in {sequential_s:.2f} s (all measured)")
    else:
        sequential_s *= args.requests / sequential_count
        print(
            f"sequential: MEASURED ON A SUBSET of {sequential_count} requests, extrapolated to "
            f"{args.requests}: {sequential_s:.2f} s"
        )
    ideal = math.ceil(args.requests / args.concurrency) * args.delay
    ratio, speedup = concurrent_s / ideal, sequential_s / concurrent_s
    print(f"ideal: ceil({args.requests}/{args.concurrency}) x {args.delay} s = {ideal:.2f} s")
    print(f"concurrent / ideal = {ratio:.2f}x (target <= 1.5x): {'PASS' if ratio <= 1.5 else 'FAIL'}")
    print(f"sequential / concurrent = {speedup:.1f}x (target >= 30x): {'PASS' if speedup >= 30 else 'FAIL'}")
    return 0 if ratio <= 1.5 and speedup >= 30 else 1


if __name__ == "__main__":
    sys.exit(main())
