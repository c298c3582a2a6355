"""Bad inputs give one clear line naming file, line and field, and exit 1 (2 for a bad config);
a torn line in the middle of a results file is moved aside, never a dead end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.cli import main

REPO = Path(__file__).resolve().parents[2]


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def problems_file(path: Path, n: int = 4) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": f"What is {i} plus {i}?", "answer": str(2 * i)}) + "\n"
            for i in range(n)
        )
    )
    return path


def eval_flags(data: Path, completions: Path, out: Path) -> list[str]:
    return [
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


@pytest.mark.parametrize("stage", ["evolve", "solve", "label-prm", "verify", "eval"])
def test_empty_input_is_an_error_naming_the_file(stage, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out"
    argv = {
        "evolve": [
            "evolve",
            "--dataset",
            "jsonl",
            "--data_path",
            str(empty),
            "--decontaminate",
            "false",
            "--output",
            str(out),
        ],
        "solve": ["solve", "--data-path", str(empty), "--output", str(out)],
        "label-prm": [
            "label-prm",
            "--labeler",
            "rule",
            "--solutions_path",
            str(empty),
            "--output",
            str(out / "prm.jsonl"),
        ],
        "verify": ["verify", "--input", str(empty), "--output", str(out / "verdicts.jsonl")],
        "eval": [
            "eval",
            "--dataset",
            "jsonl",
            "--data-path",
            str(empty),
            "--completions",
            str(empty),
            "--output",
            str(out),
        ],
    }[stage]
    assert main([*argv, "--progress", "false"] if stage in ("evolve", "solve") else argv) == 1
    line = one_line(capsys)
    assert str(empty) in line and ("empty" in line or "no problems" in line)
    assert (
        not any(p.suffix == ".jsonl" and p.stat().st_size for p in out.rglob("*")) if out.exists() else True
    )


def test_five_megabyte_line_names_file_and_line(tmp_path, capsys):
    data = problems_file(tmp_path / "problems.jsonl")
    huge = json.dumps({"id": "huge", "problem": "x " * (5 << 19), "answer": "1"})
    lines = data.read_text().splitlines()
    data.write_text("\n".join([lines[0], huge, *lines[1:]]) + "\n")
    completions = tmp_path / "completions.jsonl"
    completions.write_text("")
    assert main(eval_flags(data, completions, tmp_path / "eval")) == 1
    assert f"{data}:2: record longer than 1048576 bytes" in one_line(capsys)
    solutions = tmp_path / "solutions.jsonl"
    solutions.write_text(huge.replace('"problem"', '"solution": "Step 1: x", "problem"') + "\n")
    assert (
        main(
            [
                "label-prm",
                "--labeler",
                "rule",
                "--solutions_path",
                str(solutions),
                "--output",
                str(tmp_path / "prm.jsonl"),
            ]
        )
        == 1
    )
    assert f"{solutions}:1: record longer than" in one_line(capsys)
    assert (
        main(
            [
                "evolve",
                "--dataset",
                "jsonl",
                "--data_path",
                str(data),
                "--decontaminate",
                "false",
                "--output",
                str(tmp_path / "evol"),
                "--progress",
                "false",
            ]
        )
        == 1
    )
    assert f"{data}:2: record longer than" in one_line(capsys)
    assert not (tmp_path / "evol" / "problems.jsonl").exists()  # not copied into problems.jsonl


def test_binary_line_names_file_and_line(tmp_path, capsys):
    data = problems_file(tmp_path / "problems.jsonl")
    with data.open("ab") as handle:
        handle.write(b'{"id": "bin", "problem": "caf\xe9 \xff\xfe", "answer": "1"}\n')
    completions = tmp_path / "completions.jsonl"
    completions.write_text("")
    assert main(eval_flags(data, completions, tmp_path / "eval")) == 1
    assert f"{data}:5: not UTF-8 text (byte 0xe9" in one_line(capsys)


def test_torn_middle_line_is_moved_aside_and_redone(tmp_path, capsys, caplog):
    data = problems_file(tmp_path / "problems.jsonl", 6)
    completions = tmp_path / "completions.jsonl"
    completions.write_text(
        "".join(json.dumps({"id": f"p{i}", "completion": f"The answer is: {2 * i}"}) + "\n" for i in range(6))
    )
    out = tmp_path / "eval"
    assert main(eval_flags(data, completions, out)) == 0
    results = out / "problems.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    torn = lines[2][: len(lines[2]) // 2] + b"\n"
    results.write_bytes(b"".join([*lines[:2], torn, *lines[3:]]))
    assert main(eval_flags(data, completions, out)) == 0
    assert "moved 1 torn line(s) (line 3)" in caplog.text
    assert (out / "problems.jsonl.torn").read_bytes() == torn
    after = results.read_bytes().splitlines(keepends=True)
    assert after[:2] == lines[:2] and after[2:5] == lines[3:]  # the other lines byte-identical
    assert sorted(json.loads(x)["id"] for x in after) == [f"p{i}" for i in range(6)]  # redone, once
    assert json.loads((out / "problems.summary.json").read_text())["n"] == 6


def test_not_a_model(tmp_path, capsys):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    data = tmp_path / "sft.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    assert (
        main(["sft", "--model", str(folder), "--data_path", str(data), "--output_dir", str(tmp_path / "out")])
        == 1
    )
    assert f"--model {folder}: not a model folder (no config.json)" in one_line(capsys)
    assert (
        main(
            [
                "train-prm",
                "--model",
                str(folder),
                "--data_path",
                str(data),
                "--output_dir",
                str(tmp_path / "prm"),
            ]
        )
        == 1
    )
    assert "not a model folder" in one_line(capsys)
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    assert (
        main(["sft", "--model", str(folder), "--data_path", str(data), "--output_dir", str(tmp_path / "out")])
        == 1
    )
    line = one_line(capsys)
    assert (
        f"{folder / 'config.json'}: cannot load the model config" in line and "no-such-architecture" in line
    )
    assert (
        main(
            [
                "sft",
                "--model",
                "./nowhere/model",
                "--data_path",
                str(data),
                "--output_dir",
                str(tmp_path / "out"),
            ]
        )
        == 1
    )
    assert "./nowhere/model: no such model folder" in one_line(capsys)
    assert (
        main(
            [
                "sft",
                "--model",
                "someone/not-on-this-machine",
                "--data_path",
                str(data),
                "--output_dir",
                str(tmp_path / "out"),
            ]
        )
        == 1
    )  # offline: the hub cannot be reached
    assert "someone/not-on-this-machine: cannot load the model config" in one_line(capsys)


def test_missing_decontamination_file(tmp_path, capsys):
    missing = tmp_path / "gsm8k-test.jsonl"
    assert (
        main(
            [
                "evolve",
                "--num_seeds",
                "2",
                "--decontaminate",
                str(missing),
                "--output",
                str(tmp_path / "out"),
                "--progress",
                "false",
            ]
        )
        == 1
    )
    assert f"{missing}: decontamination test set not found" in one_line(capsys)


def test_pipeline_checks_every_config_before_the_first_stage(tmp_path, capsys):
    bad = tmp_path / "sft.yaml"
    bad.write_text((REPO / "configs/tiny/sft.yaml").read_text() + "learning_rat: 0.1\n")
    out = tmp_path / "run"
    assert main(["pipeline", "--output", str(out), "--sft_config", str(bad)]) == 2
    line = one_line(capsys)
    assert f"sft_config: {bad}: key 'learning_rat': unknown" in line
    assert not (out / "base").exists()  # init-tiny never ran


def test_a_run_that_failed_on_its_input_does_not_block_the_fixed_one(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    good = tmp_path / "solutions.jsonl"
    good.write_text(
        json.dumps(
            {
                "id": "s0",
                "problem": "What is 1 plus 1?",
                "answer": "2",
                "solution": "Step 1: 1 + 1 = 2.\nThe answer is: 2",
            }
        )
        + "\n"
    )
    out = tmp_path / "prm.jsonl"
    assert main(["label-prm", "--labeler", "rule", "--solutions_path", str(empty), "--output", str(out)]) == 1
    assert main(["label-prm", "--labeler", "rule", "--solutions_path", str(good), "--output", str(out)]) == 0
    capsys.readouterr()
    evol = tmp_path / "evol"
    assert (
        main(
            [
                "evolve",
                "--dataset",
                "someone/unreachable",
                "--num_seeds",
                "2",
                "--decontaminate",
                "false",
                "--output",
                str(evol),
                "--progress",
                "false",
            ]
        )
        == 1
    )
    assert "someone/unreachable" in one_line(capsys)
    assert (
        main(
            [
                "evolve",
                "--num_seeds",
                "2",
                "--rounds",
                "down",
                "--round_parents",
                "seeds",
                "--fanout",
                "1",
                "--decontaminate",
                "false",
                "--output",
                str(evol),
                "--progress",
                "false",
            ]
        )
        == 0
    )
