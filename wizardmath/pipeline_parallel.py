"""A second process beside the pipeline's own: on CPU the reward models train there while the main
process runs other stages (``Pipeline.reward_models_beside`` decides when).

A plain ``python -m MODULE`` subprocess, as in ``wizardmath.workers``: nothing is forked from this
process's trainer threads, and the caller's ``__main__`` is not re-imported. Both processes run one
torch thread: measured on 2 cores, one thread runs a tiny SFT step at 0.73x the speed of two, so the
pair gets 1.5x the work done.
"""

from __future__ import annotations

import contextlib
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

    env = {**child_env(), "OMP_NUM_THREADS": "1"}
    with open(log, "a") as handle:  # the child holds its own copy of the file
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
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
