"""Many pairs at once: the in-process fast path first, then sympy in N worker processes.

``check_batch`` decides what it can in the calling process (exact numbers, strings, structure:
for GSM8k-style data that is nearly every pair) and fans the rest out to ``workers`` sandbox
processes, each job under a hard wall-clock ``timeout``; an overrunning worker is killed and
replaced and its pair is "not equal" with a ``timeout`` reason. Results come back in input order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from multiprocessing.connection import wait

from wizardmath.verify.equivalence import fast_check
from wizardmath.verify.options import DEFAULT_OPTIONS, Verdict, VerifyOptions
from wizardmath.verify.sandbox import Worker, run_symbolic


def check_batch(
    pairs: Iterable[tuple[str, str]],
    workers: int = 1,
    timeout: float | None = None,
    options: VerifyOptions | None = None,
) -> list[Verdict]:
    """A ``Verdict`` per ``(gold, response)`` pair, in order. ``workers=0`` uses the shared sandbox
    worker one pair at a time; ``timeout`` defaults to ``options.timeout`` (seconds per pair)."""
    options = options or DEFAULT_OPTIONS
    limit = options.timeout if timeout is None else float(timeout)
    results: list[Verdict | None] = []
    pending: list[tuple[int, str, str]] = []
    for index, (gold, response) in enumerate(pairs):
        try:
            verdict, gold_answer, answer = fast_check(gold, response, options)
        except Exception as err:  # same contract as ``check``: a reason, never a crash
            verdict, gold_answer, answer = Verdict(False, None, f"internal error: {type(err).__name__}: {err}"), "", None
        results.append(verdict)
        if verdict is None:
            pending.append((index, gold_answer, answer or ""))
    if pending and workers <= 0:
        for index, gold_answer, answer in pending:
            equal, reason = run_symbolic(gold_answer, answer, options)
            results[index] = Verdict(equal, answer, reason)
    elif pending:
        for index, answer, (equal, reason) in _fan_out(pending, workers, limit, options):
            results[index] = Verdict(equal, answer, reason)
    return [r if r is not None else Verdict(False, None, "lost") for r in results]


def verify_batch(
    pairs: Iterable[tuple[str, str]],
    workers: int = 1,
    timeout: float | None = None,
    options: VerifyOptions | None = None,
) -> list[bool]:
    """``verify`` for many pairs: a bool per ``(gold, response)`` pair, in order (see ``check_batch``)."""
    return [v.equal for v in check_batch(pairs, workers=workers, timeout=timeout, options=options)]


def _fan_out(
    jobs: list[tuple[int, str, str]], workers: int, limit: float, options: VerifyOptions
) -> list[tuple[int, str, tuple[bool, str]]]:
    """Run symbolic jobs on ``workers`` processes with a per-job deadline; kill and replace on overrun."""
    queue = list(reversed(jobs))
    pool = [Worker() for _ in range(min(workers, len(jobs)))]
    busy: dict[int, tuple[tuple[int, str, str], float]] = {}  # worker slot -> (job, deadline)
    out: list[tuple[int, str, tuple[bool, str]]] = []
    try:
        while queue or busy:
            for slot, worker in enumerate(pool):
                if slot not in busy and queue:
                    job = queue.pop()
                    if not worker.wait_ready():
                        worker.kill()
                        pool[slot] = Worker()
                        out.append((job[0], job[2], (False, "worker failed to start")))
                        continue
                    worker.send("symbolic", (job[1], job[2], options))
                    busy[slot] = (job, time.monotonic() + limit)
            if not busy:
                continue
            soonest = min(deadline for _, deadline in busy.values())
            ready = wait([pool[slot].conn for slot in busy], timeout=max(0.0, soonest - time.monotonic()))
            now = time.monotonic()
            for slot in list(busy):
                job, deadline = busy[slot]
                worker = pool[slot]
                if worker.conn in ready:
                    try:
                        result = worker.conn.recv()[1]
                    except (EOFError, OSError):
                        result = (False, "worker crashed")
                        worker.kill()
                        pool[slot] = Worker()
                    out.append((job[0], job[2], result))
                    del busy[slot]
                elif now >= deadline:
                    worker.kill()
                    pool[slot] = Worker()
                    out.append((job[0], job[2], (False, f"timeout: over {limit:g}s")))
                    del busy[slot]
    finally:
        for worker in pool:
            worker.kill()
    return out
