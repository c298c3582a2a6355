"""Output faults end in one line, never a traceback: an output path of the wrong kind (and no ``*.tmp``
left behind), a disk that fills up mid-write (what was written stays whole, a re-run carries on), a
SIGTERM; and a second pipeline into a folder is refused before it writes anything."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_helpers import records

from wizardmath.cli import EXIT_TERMINATED, main
from wizardmath.jsonl import iter_jsonl, write_json
from wizardmath.runstate import EXIT_ERROR, EXIT_LOCKED

REPO = Path(__file__).resolve().parents[2]


def one_line(err: str) -> str:
    err = err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def wizardmath(args: list[str], file_size_limit: int | None = None, **popen) -> subprocess.Popen:
    def limit() -> None:  # ulimit -f: writes past it fail as on a full disk (EFBIG instead of ENOSPC)
        if file_size_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "wizardmath.cli", *args],
        preexec_fn=limit, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )  # fmt: skip


def test_outputs_of_the_wrong_kind_are_one_line(tmp_path, capsys):
    a_file, a_folder = tmp_path / "taken.jsonl", tmp_path / "folder"
    a_file.write_text("not a folder\n")
    a_folder.mkdir()
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"id": "a", "problem": "1 + 1?", "answer": "2"}) + "\n")
    cases = [
        (["solve", "--dataset", "symbolic", "--limit", "2", "--output", str(a_file)], a_file, "a file is in"),
        (["evolve", "--num_seeds", "2", "--output", str(a_file)], a_file, "a file is in the way"),
        (["data", "convert", "--dataset", "jsonl", "--data-path", str(problems), "--output", str(a_folder)],
         a_folder, "is a folder, where a file is needed"),
        (["label-prm", "--labeler", "rule", "--solutions_path", str(problems), "--output", str(a_folder)],
         a_folder, "is a folder, where a file is needed"),
    ]  # fmt: skip
    for args, path, message in cases:
        assert main([*args, "--progress", "false"] if args[0] != "data" else args) == EXIT_ERROR, args
        err = one_line(capsys.readouterr().err)
        assert str(path) in err and message in err, err
    assert a_file.read_text() == "not a folder\n" and list(a_folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "problems.jsonl",
        "taken.jsonl",
    ]  # no *.tmp


def test_atomic_writes_leave_no_tmp_file(tmp_path):
    (tmp_path / "summary.json").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_json(tmp_path / "summary.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.slow
def test_disk_full_mid_write_is_one_line_and_a_rerun_carries_on(tmp_path):
    out = tmp_path / "solve"
    args = ["solve", "--dataset", "symbolic", "--limit", "60", "--output", str(out), "--progress", "false"]
    full = wizardmath(args, file_size_limit=20_000)
    _, err = full.communicate(timeout=120)
    assert full.returncode == EXIT_ERROR
    err = one_line(err)
    assert (
        f"could not write {out / 'sft.jsonl'}: File too large" in err and "run the same command again" in err
    )
    written = [row for _, row in iter_jsonl(out / "sft.jsonl")]  # whole lines only: no torn last line
    assert 0 < len(written) < 60 and (out / "sft.jsonl").read_bytes().endswith(b"\n")

    again = wizardmath(args)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    rows = records(out / "sft.jsonl")
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60 and rows[: len(written)] == written
    assert not (out / "sft.jsonl.torn").exists()


@pytest.mark.slow
def test_sigterm_is_one_line_and_the_rerun_resumes(tmp_path, servers):
    from fault_helpers import evolve_flags, outcome, symbolic_responder

    out = tmp_path / "evol"
    slow = servers(symbolic_responder(), delay=0.3)
    run = wizardmath(evolve_flags(out, slow.base_url))
    deadline = time.time() + 120
    while not (out / "problems.jsonl").exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == EXIT_TERMINATED
    assert "terminated (SIGTERM); what was written is kept: run the same command again" in one_line(err)
    assert not (out / ".wizardmath.lock").exists()  # released on the way out

    fast = servers(symbolic_responder())
    again = wizardmath(evolve_flags(out, fast.base_url))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(outcome(out)) > 6  # every id once (outcome fails on a doubled id)


def test_a_second_pipeline_into_one_folder_is_refused_before_it_writes(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    fd = os.open(out / ".wizardmath.lock", os.O_CREAT | os.O_RDWR)  # the first pipeline, still running
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": 4242, "host": socket.gethostname(), "command": "pipeline"}).encode())
    try:
        assert main(["pipeline", "--config", str(REPO / "configs/tiny/pipeline.yaml"), "--output", str(out),
                     "--stages", "base"]) == EXIT_LOCKED  # fmt: skip
    finally:
        os.close(fd)
    err = one_line(capsys.readouterr().err)
    assert "is being written by pid 4242" in err and "(pipeline," in err
    assert [p.name for p in out.iterdir()] == [".wizardmath.lock"]  # no base model, test set or summary
