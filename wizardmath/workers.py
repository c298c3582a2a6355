"""Killable worker processes: jobs run in reused subprocesses under a hard wall-clock limit.

The verifier's sympy comparisons and isolated reward terms both run untrusted or unbounded work
that must never hang or crash a trainer. Signal alarms only work on the main thread of the main
interpreter and cannot interrupt C code (a big-integer power runs inside one bytecode), so a caller
on a data-loader thread or in a Ray actor would hang. Instead every job is sent to a worker process
over a pipe and the caller waits at most ``timeout`` seconds; a worker that overruns is killed and
a replacement starts booting at once (about 0.3 s: a fresh interpreter and its imports).

Workers are plain ``python -m wizardmath.workers`` subprocesses talking pickles over two
``os.pipe``s, not ``multiprocessing.Process``: nothing is forked from a multi-threaded trainer, and
unlike ``spawn``/``forkserver`` the caller's ``__main__`` is never re-imported (so scripts without an
``if __name__ == "__main__"`` guard work). A worker sees the caller's ``sys.path``; a job's function
is either a ``"module:function"`` name imported in the worker, or any callable, shipped once per
worker with ``dill`` (so closures and lambdas work too). A pool may cap its workers' address space,
so a memory bomb fails inside the worker.

``WorkerPool.run(jobs, timeout, workers)`` is the one scheduling loop: up to ``workers`` jobs at a
time, each under its own deadline, results in input order as ``Outcome``s. Idle workers are kept for
the next call (as many as the largest ``workers`` asked for), so repeated calls pay no boot.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import itertools
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

BOOT_TIMEOUT = 60.0
ERROR_CHARS = 500
MAX_SHIPPED = 256

IN_WORKER = False
"""True inside a worker process (its parent bounds its time)."""
MEMORY_LIMIT: int | None = None
"""Inside a worker: the address-space cap it runs under (bytes), if its pool set one."""

Target = str | Callable[..., Any]
Job = tuple[Target, tuple]  # (function or "module:function", positional arguments)


@dataclass(frozen=True)
class Outcome:
    """What one job gave: ``value`` when ``ok``, else ``error`` (``"timeout: over 2s"``,
    ``"worker crashed"``, ``"worker failed to start"``, ``"send failed: ..."`` or the job's
    ``"ExceptionType: message"``)."""

    ok: bool
    value: Any = None
    error: str = ""


# ------------------------------------------------------------------------------- inside a worker


def in_capped_worker() -> bool:
    """Whether this process is a memory-capped worker (its parent already bounds its time)."""
    return IN_WORKER and MEMORY_LIMIT is not None


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err)[:ERROR_CHARS]}"


def _setup(settings: dict[str, Any]) -> None:
    global IN_WORKER, MEMORY_LIMIT
    IN_WORKER = True
    parent_path = list(settings.get("sys_path", []))
    sys.path[:] = parent_path + [p for p in sys.path if p not in parent_path]
    limit = settings.get("memory_limit")
    if limit:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            MEMORY_LIMIT = limit
        except (ImportError, ValueError, OSError):
            pass
    for module in settings.get("preload", ()):  # boot cost paid before "ready"
        importlib.import_module(module)


def _serve(inbox: Connection, outbox: Connection) -> None:
    """Answer every ``call`` message with ``("ok", value)`` or ``("error", text)``, whatever the job did."""
    functions: dict[str, Any] = {}
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            return
        if message[0] == "define":  # a shipped callable, or why it cannot be loaded here
            _, key, blob = message
            try:
                import dill

                functions[key] = dill.loads(blob)
            except BaseException as err:  # noqa: BLE001 - reported on each call that needs it
                functions[key] = err
            outbox.send(("defined", key))
            continue
        _, key, args = message
        try:
            function = functions[key] if key in functions else functions.setdefault(key, _resolve(key))
            if isinstance(function, BaseException):
                raise RuntimeError(f"cannot load the job's function in the worker: {_describe(function)}")
            reply: tuple[str, Any] = ("ok", function(*args))
        except BaseException as err:  # noqa: BLE001 - a worker must answer, whatever the job raised
            reply = ("error", _describe(err))
        try:
            outbox.send(reply)
        except (OSError, ValueError):
            return
        except Exception as err:  # an unpicklable result
            outbox.send(("error", f"result not sendable: {_describe(err)}"))


def _worker_main(read_fd: int, write_fd: int) -> None:
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    try:
        kind, settings = inbox.recv()
        _setup(settings)
    except (EOFError, OSError):
        return
    outbox.send(("ready", os.getpid()))
    _serve(inbox, outbox)


# ------------------------------------------------------------------------------- the parent side


def child_env() -> dict[str, str]:
    """This environment, with this checkout first on ``PYTHONPATH``: for any child process of ours."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # so the child imports this very checkout
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Worker:
    """One worker process and its pipes. It starts booting on construction; ``wait_ready`` waits."""

    def __init__(self, settings: dict[str, Any]) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wizardmath.workers", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=child_env(),
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.conn = Connection(from_child_r, writable=False)
        self.defined: set[str] = set()
        self.ready = False
        with contextlib.suppress(OSError):
            self.outbox.send(("setup", settings))

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> bool:
        """Whether the worker has booted, waiting up to ``timeout`` seconds for it."""
        if not self.ready:
            try:
                if not self.conn.poll(timeout):
                    return False
                self.conn.recv()
            except (EOFError, OSError):
                return False
            self.ready = True
        return True

    def submit(self, key: str, args: tuple) -> None:
        self.outbox.send(("call", key, args))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for conn in (self.conn, self.outbox):
            with contextlib.suppress(OSError):
                conn.close()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()


class WorkerPool:
    """Reused worker processes; ``run`` may be called from several threads at once.

    ``memory_limit`` caps each worker's address space (bytes); ``preload`` names modules a worker
    imports before it reports ready; ``workers`` and ``timeout`` are ``run``'s defaults.
    """

    def __init__(
        self,
        workers: int = 1,
        timeout: float = 10.0,
        memory_limit: int | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        self.workers, self.timeout, self.keep = workers, timeout, workers
        self._settings = {"memory_limit": memory_limit, "preload": list(preload)}
        self._idle: list[Worker] = []
        self._shipped: dict[int, tuple[Callable[..., Any], str, bytes]] = {}
        self._serial = itertools.count()
        self._lock = threading.Lock()
        _POOLS.add(self)

    def _new_worker(self) -> Worker:
        return Worker({**self._settings, "sys_path": list(sys.path)})

    def _acquire(self) -> Worker:
        """An idle worker, a booted one first (after a kill its replacement may still be booting)."""
        with self._lock:
            for worker in [w for w in self._idle if not w.alive()]:
                self._idle.remove(worker)
                worker.kill()
            if self._idle:
                booted = [w for w in self._idle if w.wait_ready(0)]
                worker = (booted or self._idle)[-1]
                self._idle.remove(worker)
                return worker
        return self._new_worker()

    def _release(self, worker: Worker) -> None:
        with self._lock:
            if worker.alive() and len(self._idle) < self.keep:
                self._idle.append(worker)
                return
        worker.kill()

    def _key(self, target: Target) -> tuple[str, bytes | None]:
        """The worker-side name of a job's function, and its pickle when it must be shipped."""
        if isinstance(target, str):
            return target, None
        with self._lock:
            entry = self._shipped.get(id(target))
            if entry is None:  # the entry holds ``target``, so its id is not reused while cached
                import dill

                if len(self._shipped) >= MAX_SHIPPED:  # callers making a new lambda per call
                    self._shipped.clear()
                entry = (target, f"shipped:{next(self._serial)}", dill.dumps(target, recurse=True))
                self._shipped[id(target)] = entry
        return entry[1], entry[2]

    def warm_up(self, count: int | None = None) -> None:
        """Boot ``count`` workers (default: ``workers``) now, so the first jobs do not wait for them."""
        booting = [self._acquire() for _ in range(count or self.workers)]
        for worker in booting:
            worker.wait_ready()
        for worker in booting:
            self._release(worker)

    def run(
        self, jobs: Sequence[Job], timeout: float | None = None, workers: int | None = None
    ) -> list[Outcome]:
        """Each job's ``Outcome``, in order; no job runs longer than ``timeout`` seconds of wall clock.

        A slot moves its job through three phases without blocking the others: ``boot`` (the worker
        is starting), ``load`` (the job's function is being unpickled: imports count as boot, not
        job time; both under ``BOOT_TIMEOUT``) and ``run`` (under ``timeout``)."""
        limit = self.timeout if timeout is None else float(timeout)
        size = max(1, self.workers if workers is None else workers)
        self.keep = max(self.keep, size)
        results: list[Outcome] = [Outcome(False, error="lost")] * len(jobs)
        if not jobs:
            return results
        try:
            prepared = [(*self._key(target), args) for target, args in jobs]
        except Exception as err:  # a function dill cannot pickle: every job says why
            return [Outcome(False, error=f"send failed: {_describe(err)}")] * len(jobs)
        queue = list(range(len(jobs)))[::-1]
        slots = [self._acquire() for _ in range(min(size, len(jobs)))]
        busy: dict[int, tuple[str, int, float]] = {}  # slot -> (phase, job index, deadline)

        def fail(slot: int, error: str) -> None:
            results[busy.pop(slot)[1]] = Outcome(False, error=error)
            slots[slot].kill()
            slots[slot] = self._new_worker()  # boots while the others work

        def advance(slot: int, job: int) -> None:
            worker, (key, blob, args) = slots[slot], prepared[job]
            try:
                if not worker.ready:
                    busy[slot] = ("boot", job, time.monotonic() + BOOT_TIMEOUT)
                elif blob is not None and key not in worker.defined:
                    worker.outbox.send(("define", key, blob))
                    worker.defined.add(key)
                    busy[slot] = ("load", job, time.monotonic() + BOOT_TIMEOUT)
                else:
                    busy[slot] = ("run", job, time.monotonic() + limit)
                    worker.submit(key, args)
            except Exception as err:  # broken pipe or unpicklable arguments
                busy[slot] = ("send", job, 0.0)
                fail(slot, f"send failed: {_describe(err)}")

        try:
            while queue or busy:
                for slot in range(len(slots)):
                    if slot not in busy and queue:
                        advance(slot, queue.pop())
                if not busy:
                    continue
                soonest = min(deadline for _, _, deadline in busy.values())
                ready = wait(
                    [slots[slot].conn for slot in busy], timeout=max(0.0, soonest - time.monotonic())
                )
                now = time.monotonic()
                for slot, (phase, job, deadline) in list(busy.items()):
                    if slots[slot].conn in ready:
                        try:
                            status, value = slots[slot].conn.recv()
                        except (EOFError, OSError):
                            fail(slot, "worker crashed" if phase == "run" else "worker failed to start")
                            continue
                        if phase == "run":
                            del busy[slot]
                            results[job] = (
                                Outcome(True, value) if status == "ok" else Outcome(False, error=value)
                            )
                        else:  # "ready" after boot, "defined" after load: on to the next phase
                            slots[slot].ready = True
                            advance(slot, job)
                    elif now >= deadline:
                        fail(
                            slot, f"timeout: over {limit:g}s" if phase == "run" else "worker failed to start"
                        )
        finally:
            for slot, worker in enumerate(slots):
                if slot in busy:  # interrupted mid-job: its late answer must not reach the next caller
                    worker.kill()
                else:
                    self._release(worker)
        return results

    def close(self) -> None:
        """Kill the idle workers (``run`` calls in flight keep theirs until they return)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
