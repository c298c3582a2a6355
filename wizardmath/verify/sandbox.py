"""Hard wall-clock limits for sympy: persistent worker processes that are killed on overrun.

Signal alarms only work on the main thread of the main interpreter and cannot interrupt C code
(a big-integer power runs inside one bytecode), so a trainer calling the verifier from a data-loader
thread or a Ray actor would hang. Instead every symbolic comparison is sent to a worker process
over a pipe and the caller waits at most ``timeout`` seconds; a worker that overruns is killed and
a replacement starts booting at once (about 0.3 s: a fresh interpreter importing sympy).

Workers are plain ``python -m wizardmath.verify.sandbox`` subprocesses talking pickles over two
``os.pipe``s, not ``multiprocessing.Process``: nothing is forked from a multi-threaded trainer, and
unlike ``spawn``/``forkserver`` the caller's ``__main__`` is never re-imported (so scripts without an
``if __name__ == "__main__"`` guard work). Each worker caps its address space, so a memory bomb
fails inside it. Inside a worker (``IN_WORKER``) the symbolic path runs inline: the parent already
bounds it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from wizardmath.verify.options import VerifyOptions

IN_WORKER = False
BOOT_TIMEOUT = 60.0
MEMORY_LIMIT_BYTES = 4 << 30


def symbolic_compare(gold: str, answer: str, options: VerifyOptions) -> tuple[bool, str]:
    """The sympy comparison of two extracted answers (runs inside a worker)."""
    from wizardmath.verify.equivalence import compare_strings
    from wizardmath.verify.symbolic import sympy_scalar

    verdict, reason = compare_strings(gold, answer, options, sympy_scalar(options.max_power_bits, options.rel_tol))
    return bool(verdict), reason if verdict is not None else "undecided"


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def _worker_main(read_fd: int, write_fd: int) -> None:
    global IN_WORKER
    IN_WORKER = True
    _limit_memory()
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    import wizardmath.verify.symbolic  # noqa: F401 - boot cost paid before "ready"

    outbox.send(("ready", os.getpid()))
    jobs = {"symbolic": symbolic_compare}
    while True:
        try:
            name, args = inbox.recv()
        except (EOFError, OSError):
            return
        try:
            result: Any = ("ok", jobs[name](*args))
        except MemoryError:
            result = ("ok", (False, "refused: out of memory"))
        except Exception as err:  # a worker must answer, whatever sympy raised
            result = ("ok", (False, f"symbolic error: {type(err).__name__}: {str(err)[:200]}"))
        try:
            outbox.send(result)
        except (OSError, ValueError):
            return


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # so the child imports this very checkout
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Worker:
    """One worker process and its pipes; ``call`` enforces the wall-clock limit."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wizardmath.verify.sandbox", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_child_env(),
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.conn = Connection(from_child_r, writable=False)
        self.ready = False

    def wait_ready(self) -> bool:
        if not self.ready:
            try:
                if not self.conn.poll(BOOT_TIMEOUT):
                    return False
                self.conn.recv()
            except (EOFError, OSError):
                return False
            self.ready = True
        return True

    def send(self, name: str, args: tuple) -> None:
        self.outbox.send((name, args))

    def call(self, name: str, args: tuple, timeout: float) -> tuple[bool, str] | None:
        """The job's result, or None after killing the worker when it overran ``timeout``."""
        if not self.wait_ready():
            self.kill()
            return None
        try:
            self.send(name, args)
            if not self.conn.poll(timeout):
                self.kill()
                return None
            return self.conn.recv()[1]
        except (EOFError, OSError):
            self.kill()
            return None

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


class Pool:
    """Idle workers kept for reuse; safe to use from several threads at once."""

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._idle: list[Worker] = []
        self._lock = threading.Lock()

    def acquire(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
        return Worker()

    def release(self, worker: Worker) -> None:
        with self._lock:
            if worker.alive() and len(self._idle) < self.keep:
                self._idle.append(worker)
                return
        worker.kill()

    def replenish(self) -> None:
        """Start a fresh worker in the background (after a kill), so the next call need not wait."""
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(Worker())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOL = Pool()
atexit.register(_POOL.close)


def warm_up() -> None:
    """Boot one worker now (about a second, once) so the first symbolic comparison is not slowed."""
    worker = _POOL.acquire()
    worker.wait_ready()
    _POOL.release(worker)


def run_symbolic(gold: str, answer: str, options: VerifyOptions) -> tuple[bool, str]:
    """Compare with sympy under ``options.timeout`` seconds of wall clock; never raises or hangs."""
    if IN_WORKER:
        return symbolic_compare(gold, answer, options)
    worker = _POOL.acquire()
    start = time.perf_counter()
    result = worker.call("symbolic", (gold, answer, options), options.timeout)
    if result is None:
        _POOL.replenish()
        return False, f"timeout: symbolic comparison exceeded {options.timeout:g}s ({time.perf_counter() - start:.1f}s)"
    _POOL.release(worker)
    return result


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
