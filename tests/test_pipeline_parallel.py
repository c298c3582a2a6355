"""The pipeline's second process: it dies with the pipeline, however the pipeline dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_second_process_ends_when_the_pipeline_is_killed(tmp_path, how):
    (tmp_path / "sleeper.py").write_text(
        "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
    )
    pid_file = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from wizardmath.pipeline_parallel import second_process

        with second_process("sleeper", [{str(pid_file)!r}], Path({str(tmp_path / "log")!r}), "a test"):
            time.sleep(120)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            assert parent.poll() is None, "the parent ended early"
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert alive(child)
        parent.send_signal(how)  # no finally runs in the parent
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        parent.kill()
