"""The killable worker pool: reused subprocess workers, a hard per-job limit, clean shutdown."""

from __future__ import annotations

import os
import threading
import time

import pytest

from wizardmath.workers import Outcome, WorkerPool


def slow_square(x: float, seconds: float = 0.0) -> float:
    time.sleep(seconds)
    return x * x


def misbehave(how: str) -> object:
    if how == "hang":
        time.sleep(60)
    if how == "raise":
        raise ValueError("bad sample")
    if how == "die":
        os._exit(3)
    if how == "unsendable":
        return threading.Lock()
    return how


class SlowToLoad:
    """A job function whose unpickling in the worker takes a second, like a heavy import."""

    def __reduce__(self):
        return (_load_slowly, ())

    def __call__(self) -> str:
        return "loaded"


def _load_slowly() -> SlowToLoad:
    time.sleep(1.0)
    return SlowToLoad()


@pytest.fixture
def pool():
    pool = WorkerPool(workers=2, timeout=5)
    yield pool
    pool.close()


@pytest.mark.timeout(60)
def test_results_in_order_from_reused_workers(pool):
    out = pool.run([(slow_square, (x, 0.05 * (x % 3))) for x in range(8)])
    assert out == [Outcome(True, x * x) for x in range(8)]
    pids = {o.value for o in pool.run([(os.getpid, ())] * 4)}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert {o.value for o in pool.run([(os.getpid, ())] * 4)} == pids  # the same processes, no new boot


@pytest.mark.timeout(60)
def test_hang_raise_crash_and_unsendable_are_outcomes_and_the_pool_recovers(pool):
    hows = ["ok", "hang", "raise", "die", "unsendable", "fine"]
    start = time.monotonic()
    out = pool.run([(misbehave, (how,)) for how in hows], timeout=1.0)
    assert time.monotonic() - start < 10  # the hang is killed at 1 s, not waited for
    assert [o.ok for o in out] == [True, False, False, False, False, True]
    assert out[1].error == "timeout: over 1s" and out[2].error == "ValueError: bad sample"
    assert out[3].error == "worker crashed" and out[4].error.startswith("result not sendable")
    assert [o.value for o in pool.run([(misbehave, ("again",))] * 3)] == ["again"] * 3


@pytest.mark.timeout(60)
def test_closures_by_value_names_by_import_and_bad_arguments(pool):
    offset = 10
    assert pool.run([(lambda x: x + offset, (1,))]) == [Outcome(True, 11)]
    assert pool.run([("os.path:basename", ("/a/b.txt",))]) == [Outcome(True, "b.txt")]
    [missing] = pool.run([("os.path:no_such_function", ())])
    assert not missing.ok and missing.error.startswith("AttributeError")
    [unpicklable] = pool.run([(slow_square, (threading.Lock(),))])
    assert not unpicklable.ok and unpicklable.error.startswith("send failed")


@pytest.mark.timeout(60)
def test_loading_a_function_is_boot_time_not_job_time(pool):
    assert pool.run([(SlowToLoad(), ())], timeout=0.5) == [Outcome(True, "loaded")]


@pytest.mark.timeout(60)
def test_threads_share_the_pool_and_close_kills_idle_workers(pool):
    answers: list[list[Outcome]] = []
    threads = [
        threading.Thread(target=lambda k=k: answers.append(pool.run([(slow_square, (k,))] * 3)))
        for k in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for batch in answers for o in batch) == sorted([0, 1, 4] * 3)
    idle = list(pool._idle)
    assert idle and all(worker.alive() for worker in idle)
    pool.close()
    assert not pool._idle and not any(worker.alive() for worker in idle)
