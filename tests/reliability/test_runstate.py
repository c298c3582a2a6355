"""The shared mechanics in ``wizardmath.runstate`` and ``wizardmath.resume``, one behaviour each."""

from __future__ import annotations

import json

import pytest

from wizardmath.jsonl import repair_jsonl
from wizardmath.resume import check_steps_left, train_resumable
from wizardmath.runstate import (
    EXIT_INCOMPLETE,
    OutputLock,
    check_manifest,
    exit_code,
    fingerprint,
    merge_counts,
)


def test_merge_counts_adds_numbers_and_keeps_the_rest():
    old = {"requests": 10, "retries": {"timeout": 2}, "model": "a", "cost_usd": 0.5}
    new = {"requests": 3, "retries": {"timeout": 1, "http_500": 4}, "model": "b"}
    assert merge_counts(old, new) == {
        "requests": 13,
        "retries": {"timeout": 3, "http_500": 4},
        "model": "b",
        "cost_usd": 0.5,
    }


def test_exit_codes():
    assert exit_code({"retry_pending": 2}) == EXIT_INCOMPLETE
    assert exit_code({"retry_pending": 0}) == 0 and exit_code(None) == 0 and exit_code(1) == 1


def test_repair_leaves_a_whole_file_alone(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}\n')
    assert repair_jsonl(path) == 0 and path.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
    assert not (tmp_path / "r.jsonl.torn").exists()


def test_repair_moves_torn_and_undecodable_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2, "x\n\xff\xfe\n[1, 2]\n{"id": 3}\n{"id": 4')
    assert repair_jsonl(path) == 4
    assert path.read_bytes() == b'{"id": 1}\n{"id": 3}\n'
    assert (tmp_path / "r.jsonl.torn").read_bytes() == b'{"id": 2, "x\n\xff\xfe\n[1, 2]\n{"id": 4\n'


def test_manifest_allows_grown_input_and_refuses_changed_input(tmp_path):
    data, manifest, output = (
        tmp_path / "in.jsonl",
        tmp_path / "out" / "run.json",
        tmp_path / "out" / "o.jsonl",
    )
    data.write_text('{"id": 1}\n')
    check_manifest(manifest, {"k": 0}, [output])
    check_manifest(
        manifest, {"k": 1, "input_files": fingerprint([data])}, [output]
    )  # no output yet: nothing to mix
    output.write_text("written\n")
    with data.open("a") as handle:
        handle.write('{"id": 2}\n')
    check_manifest(manifest, {"k": 1, "input_files": fingerprint([data])}, [output])  # grown: fine
    data.write_text('{"id": 9}\n{"id": 2}\n')
    with pytest.raises(ValueError, match="other data or settings .*input_files"):
        check_manifest(manifest, {"k": 1, "input_files": fingerprint([data])}, [output])
    with pytest.raises(ValueError, match="k: 1 -> 2"):
        check_manifest(
            manifest, {"k": 2, "input_files": json.loads(manifest.read_text())["input_files"]}, [output]
        )
    check_manifest(manifest, {"k": 2}, [output], resume=True)  # carried on, the first settings stay recorded
    assert json.loads(manifest.read_text())["k"] == 1
    check_manifest(manifest, {"k": 2}, [output], overwrite=True)
    assert not output.exists() and json.loads(manifest.read_text()) == {"k": 2}


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with OutputLock(tmp_path, "a") as outer:
        with OutputLock(tmp_path, "b"):  # the pipeline runs stages inside stages
            pass
        assert outer.path.exists()
        holder = json.loads(outer.path.read_text())
        assert holder["pid"] > 0 and holder["host"] and holder["command"] == "a"
    assert not outer.path.exists()


def test_lock_file_nobody_holds_is_taken_over_and_a_held_one_refused(tmp_path, caplog):
    import fcntl
    import os
    import socket

    from wizardmath.runstate import OutputLocked

    lock = tmp_path / ".wizardmath.lock"
    lock.write_text("")  # a writer died between creating and filling it: nobody holds it
    with OutputLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    lock.write_text(
        json.dumps({"pid": 999999, "host": socket.gethostname(), "command": "evolve"})
    )  # a dead holder
    with OutputLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert "taking over a stale lock of pid 999999" in caplog.text
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)  # another holder, still filling the file in
    fcntl.flock(fd, fcntl.LOCK_EX)
    with pytest.raises(OutputLocked, match="taking this lock right now"):
        OutputLock(tmp_path).acquire()
    os.write(fd, json.dumps({"pid": 12345, "host": "h", "command": "solve", "since": "now"}).encode())
    with pytest.raises(OutputLocked, match=r"is being written by pid 12345 on h \(solve, since now\)"):
        OutputLock(tmp_path).acquire()
    os.close(fd)


def test_stale_takeover_race_has_one_winner(tmp_path):
    """Many starters at once over a dead holder's lock file: exactly one holds it, the rest are refused."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / ".wizardmath.lock").write_text(json.dumps({"pid": 999999, "host": socket.gethostname()}))
    code = (
        "import sys, time\nfrom wizardmath.runstate import OutputLock, OutputLocked\n"
        "time.sleep(max(0, float(sys.argv[1]) - time.time()))\n"
        f"try:\n    OutputLock({str(tmp_path)!r}).acquire(); print('won', flush=True); time.sleep(2)\n"
        "except OutputLocked:\n    print('refused', flush=True)\n"
    )
    import time

    start = str(time.time() + 1.5)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = [
        subprocess.Popen([sys.executable, "-c", code, start], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(6)
    ]
    results = sorted(run.communicate(timeout=60)[0].strip() for run in runs)
    assert results == ["refused"] * 5 + ["won"]


class _FakeTrainer:
    """What ``train_resumable`` uses of a Trainer: ``train``, ``state``, ``model``, ``save_model``."""

    def __init__(self, steps: int):
        self.steps, self.saved, self.resumed_from = steps, None, "unset"
        self.state = type("State", (), {"global_step": 0})()
        self.model = type("Lora", (), {"merge_and_unload": lambda self: "merged"})()

    def train(self, resume_from_checkpoint=None):
        self.resumed_from = resume_from_checkpoint
        self.state.global_step = self.steps
        return "train-output"

    def save_model(self, output_dir):
        self.saved = output_dir


def test_train_resumable_guards_trains_merges_and_saves(tmp_path):
    config = type("Config", (), {"output_dir": str(tmp_path), "overwrite": False, "use_lora": True})()
    trainer = _FakeTrainer(steps=3)
    assert train_resumable(trainer, config, "sft", None, {"seed": 1}, ["sft_summary.json"]) == "train-output"
    assert trainer.resumed_from is None and trainer.model == "merged" and trainer.saved == str(tmp_path)
    assert json.loads((tmp_path / "sft.run.json").read_text()) == {"seed": 1}  # guard_resume ran
    idle = _FakeTrainer(steps=0)
    config.use_lora = False
    with pytest.raises(ValueError, match="grpo: trained 0 steps"):
        train_resumable(idle, config, "grpo", None, None)  # settings None: the caller guarded
    assert idle.saved is None and not (tmp_path / "grpo.run.json").exists()


def _checkpoint(folder, global_step: int, max_steps: int) -> str:
    path = folder / f"checkpoint-{global_step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": global_step, "max_steps": max_steps}))
    return str(path)


@pytest.mark.parametrize(
    ("done", "planned", "max_steps", "refused"),
    [
        (20, 20, -1, True),  # a finished run, the same command again
        (20, 20, 5, True),  # a finished run, fewer steps asked
        (20, 20, 30, False),  # more steps asked: training goes on
        (10, 20, -1, False),  # an interrupted run resumes
        (10, 20, 8, True),  # the new plan is already passed
    ],
)
def test_check_steps_left_refuses_a_checkpoint_with_nothing_to_train(
    tmp_path, done, planned, max_steps, refused
):
    checkpoint = _checkpoint(tmp_path, done, planned)
    if refused:
        with pytest.raises(ValueError, match=rf"holds a finished run \(step {done}\)"):
            check_steps_left("sft", str(tmp_path), checkpoint, max_steps)
    else:
        check_steps_left("sft", str(tmp_path), checkpoint, max_steps)
    check_steps_left("sft", str(tmp_path), None, max_steps)  # a fresh start: nothing to check
    check_steps_left(
        "sft", str(tmp_path), str(tmp_path / "nowhere"), max_steps
    )  # unreadable: the Trainer decides


def test_train_resumable_never_trains_past_a_finished_checkpoint(tmp_path):
    """transformers' Trainer resumed from a finished run's checkpoint trains one more step and saves it
    over the model; train_resumable refuses before train() is called."""
    config = type("Config", (), {"output_dir": str(tmp_path), "overwrite": False, "use_lora": False})()
    trainer = _FakeTrainer(steps=21)
    with pytest.raises(ValueError, match="sft: trained 0 steps"):
        train_resumable(trainer, config, "sft", _checkpoint(tmp_path, 20, 20), None)
    assert trainer.resumed_from == "unset" and trainer.saved is None
