"""One writer per output: a second process gets one line naming the holder (exit 4) and changes
nothing; a lock left by a dead process is taken over. A re-run with other data or settings is
refused (exit 1) unless --overwrite or --resume; trainers refuse to resume on other data and never
report success for 0 steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fault_helpers import evolve_flags, outcome, symbolic_responder

from wizardmath.cli import main
from wizardmath.runstate import EXIT_LOCKED

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def wait_for(path: Path, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def symbolic_evolve(out: Path, *extra: str) -> list[str]:
    return [
        "evolve",
        "--output",
        str(out),
        "--num_seeds",
        "8",
        "--rounds",
        "down",
        "--round_parents",
        "seeds",
        "--fanout",
        "2",
        "--decontaminate",
        "false",
        "--progress",
        "false",
        *extra,
    ]


def test_two_concurrent_evolve_runs(tmp_path, servers):
    server = servers(symbolic_responder(), delay=0.05)  # slow enough that the first still runs
    out = tmp_path / "run"
    command = [sys.executable, "-m", "wizardmath", *evolve_flags(out, server.base_url)]
    first = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(out / ".wizardmath.lock")
    second = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=120) == 0
    assert second.returncode == EXIT_LOCKED
    error = second.stderr.strip().splitlines()
    assert len(error) == 1 and f"pid {first.pid}" in error[0] and str(out) in error[0]
    assert len(outcome(out)) == 6 + 18  # every id once
    assert not (out / ".wizardmath.lock").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(symbolic_evolve(out)) == 0
    before = (out / "problems.jsonl").read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom wizardmath.runstate import OutputLock\n"
            f"OutputLock({str(out)!r}, 'evolve').acquire(); print('held', flush=True); time.sleep(60)",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    assert main(symbolic_evolve(out)) == EXIT_LOCKED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pid {holder.pid} on " in err[0]
    assert (out / "problems.jsonl").read_bytes() == before
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert main(symbolic_evolve(out)) == 0  # the dead holder's lock is stale
    assert (out / "problems.jsonl").read_bytes() == before  # nothing left to do, nothing doubled


def write_seeds(path: Path, names: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": n,
                    "problem": f"{n} has 4 pens. {n} buys 3 more pens. How many pens does {n} have now?",
                    "answer": "7",
                }
            )
            + "\n"
            for n in names
        )
    )
    return path


def test_rerun_with_other_data_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["Tom", "Ann"])
    flags = ["--dataset", "jsonl", "--data_path", str(seeds), "--num_seeds", "0"]
    assert main(symbolic_evolve(out, *flags)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".jsonl"}

    other = write_seeds(tmp_path / "other.jsonl", ["Zoe", "Max"])
    assert (
        main(symbolic_evolve(out, "--dataset", "jsonl", "--data_path", str(other), "--num_seeds", "0")) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "other data or settings" in err[0]
        and "data_path" in err[0]
        and "--overwrite" in err[0]
    )
    write_seeds(seeds, ["Tom", "Bob"])  # the same file, other content
    assert main(symbolic_evolve(out, *flags)) == 1
    assert "input_files" in capsys.readouterr().err
    assert main(symbolic_evolve(out, *flags, "--fanout", "3")) == 1  # other settings
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".jsonl"} == before

    write_seeds(seeds, ["Tom", "Ann", "Sam"])  # the same file with a record appended: more data arrived
    assert main(symbolic_evolve(out, *flags)) == 0
    assert (out / "problems.jsonl").read_bytes().startswith(before["problems.jsonl"])
    assert {r.split("/")[0] for r in outcome(out)} == {"Tom", "Ann", "Sam"}

    assert (
        main(
            symbolic_evolve(
                out,
                "--dataset",
                "jsonl",
                "--data_path",
                str(other),
                "--num_seeds",
                "0",
                "--overwrite",
                "true",
            )
        )
        == 0
    )
    assert {r.split("/")[0] for r in outcome(out)} == {"Zoe", "Max"}  # started clean


def sft_flags(model: Path, data: Path, out: Path, **extra) -> list[str]:
    values = {
        "--config": str(REPO / "configs/tiny/sft.yaml"),
        "--model": str(model),
        "--data_path": str(data),
        "--output_dir": str(out),
        "--max_steps": "2",
        "--save_steps": "1",
        "--warmup_steps": "0",
        "--disable_tqdm": "true",
        "--logging_steps": "1",
        **extra,
    }
    return ["sft", *[item for pair in values.items() for item in pair]]


def sft_data(path: Path, offset: int) -> Path:
    from wizardmath.data import format_prompt, format_solution

    rows = [
        {
            "prompt": format_prompt(f"What is {i} plus {offset}?"),
            "completion": format_solution([f"{i} + {offset} = {i + offset}."], str(i + offset)),
        }
        for i in range(8)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_trainer_rerun_never_trains_nothing_and_says_done(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "sft"
    data = sft_data(tmp_path / "a.jsonl", 1)
    assert main(sft_flags(tiny_model_dir, data, out)) == 0
    summary = (out / "sft_summary.json").read_bytes()
    assert json.loads(summary)["steps"] == 2
    capsys.readouterr()

    assert (
        main(sft_flags(tiny_model_dir, sft_data(tmp_path / "b.jsonl", 5), out)) == 1
    )  # new data, old folder
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        "holds checkpoints of a sft run with other data or settings" in err[-1] and "input_files" in err[-1]
    )
    assert main(sft_flags(tiny_model_dir, data, out)) == 1  # the same run again: 0 steps would be trained
    assert "trained 0 steps" in capsys.readouterr().err
    assert (out / "sft_summary.json").read_bytes() == summary  # no new summary claims success
    assert (
        main(sft_flags(tiny_model_dir, data, out, **{"--max_steps": "3"})) == 0
    )  # extending the same run is resuming
    assert json.loads((out / "sft_summary.json").read_text())["steps"] == 3


def test_verify_twice_writes_one_copy(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"id": str(i), "gold": str(i), "pred": f"The answer is: {i}"}) + "\n" for i in range(3)
        )
    )
    out = tmp_path / "verdicts.jsonl"
    assert main(["verify", "--input", str(pairs), "--output", str(out)]) == 0
    first = out.read_bytes()
    assert main(["verify", "--input", str(pairs), "--output", str(out)]) == 0
    assert out.read_bytes() == first and len(first.splitlines()) == 3


def test_eval_results_file_held_by_another_process(tmp_path, capsys):
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": f"What is {i}?", "answer": str(i)}) + "\n" for i in range(3)
        )
    )
    completions = tmp_path / "completions.jsonl"
    completions.write_text(
        "".join(json.dumps({"id": f"p{i}", "completion": f"The answer is: {i}"}) + "\n" for i in range(3))
    )
    out = tmp_path / "eval"
    flags = [
        "eval",
        "--dataset",
        "jsonl",
        "--data-path",
        str(data),
        "--completions",
        str(completions),
        "--output",
        str(out),
        "--progress",
        "false",
        "--verify_workers",
        "0",
    ]
    assert main(flags) == 0
    before = (out / "problems.jsonl").read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom wizardmath.runstate import OutputLock\n"
            f"OutputLock({str(out / 'problems.jsonl')!r}, 'eval', folder=False).acquire(); "
            "print('held', flush=True); time.sleep(60)",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert (
            main([*flags, "--overwrite", "true"]) == EXIT_LOCKED
        )  # not even --overwrite gets past a live writer
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {holder.pid}" in err[0]
        assert (out / "problems.jsonl").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
