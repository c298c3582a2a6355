"""A second process beside the pipeline's own: on CPU the reward models train there while the main
process runs other stages (``Pipeline.reward_models_beside`` decides when).

A plain ``python -m MODULE`` subprocess, as in ``wizardmath.workers``: nothing is forked from this
process's trainer threads, and the caller's ``__main__`` is not re-imported. Both processes run one
torch thread: measured on 2 cores, one thread runs a tiny SFT step at 0.73x the speed of two, so the
pair gets 1.5x the work done.

The child runs as ``python -m wizardmath.pipeline_parallel MODULE ARGS...``: on Linux it first asks the
kernel to end it when this process dies (``PR_SET_PDEATHSIG``), so a pipeline killed by SIGTERM or
SIGKILL, where no ``finally`` runs, leaves no trainer behind to hold the output folder's lock.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def second_process(module: str, args: list[str], log: Path, what: str) -> Iterator[bool]:
    """Run ``python -m module *args`` (output appended to ``log``) while the body runs on one torch
    thread (``as`` gives True); then wait for it. Its failure is the caller's, with the log's tail;
    if the body fails or is interrupted, the second process is killed."""
    import torch

    from wizardmath.workers import child_env

    env = {**child_env(), "OMP_NUM_THREADS": "1", PARENT_PID: str(os.getpid())}
    with open(log, "a") as handle:  # the child holds its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, module, *args],
            stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            yield True
        finally:
            torch.set_num_threads(previous)
        code = process.wait()
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"pipeline: {what} failed with exit code {code}; log {log} ends:\n{tail}")
    finally:
        if process.poll() is None:  # the body failed or was interrupted
            process.kill()
            process.wait()


PARENT_PID = "WIZARDMATH_PARENT_PID"


def die_with_parent() -> None:
    """End this process when the one named by ``$WIZARDMATH_PARENT_PID`` dies (Linux; elsewhere a
    no-op: the parent's ``finally`` is then the only clean-up)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    # The signal comes when the parent's *thread* that started this process exits: second_process is
    # entered from the pipeline's main thread.
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM) != 0:
        print(f"warning: prctl(PR_SET_PDEATHSIG) failed (errno {ctypes.get_errno()})", file=sys.stderr)
    if os.getppid() != int(os.environ.get(PARENT_PID, os.getppid())):  # it died before the prctl
        sys.exit(f"{PARENT_PID}: the parent process is gone")


if __name__ == "__main__":  # the child: python -m wizardmath.pipeline_parallel MODULE ARGS...
    die_with_parent()
    sys.argv = sys.argv[1:]  # the module sees its own name and arguments, as under python -m
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
