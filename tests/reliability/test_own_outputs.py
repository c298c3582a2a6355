"""The record size limit is for user inputs: files the toolkit wrote itself (eval results, evolve's
problems and rejections, solve's rejections) are read whole, so a long legitimate record never
stops a re-run."""

from __future__ import annotations

import json

import pytest
from test_bad_inputs import eval_flags, problems_file

from wizardmath.cli import main
from wizardmath.jsonl import OWN_FILE, DataError, iter_jsonl


def test_own_file_reads_any_length_and_inputs_stay_bounded(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps({"id": "a", "samples": ["x" * 3000] * 4}) + "\n" + json.dumps({"id": "b"}) + "\n"
    )
    monkeypatch.setenv("WIZARDMATH_MAX_RECORD_BYTES", "1000")
    assert [r["id"] for _, r in iter_jsonl(path, max_bytes=OWN_FILE)] == ["a", "b"]
    with pytest.raises(DataError, match=r"results.jsonl:1: record longer than 1000 bytes"):
        list(iter_jsonl(path))


def test_eval_rerun_reads_results_longer_than_the_input_limit(tmp_path, monkeypatch, capsys):
    data = problems_file(tmp_path / "problems.jsonl", 3)
    completions = tmp_path / "completions.jsonl"
    padding = "Let me think about this carefully. " * 8
    completions.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "completion": f"{padding}The answer is: {2 * i}"}) + "\n"
            for i in range(3)
        )
    )
    out = tmp_path / "eval"
    assert main(eval_flags(data, completions, out)) == 0
    results = out / "problems.jsonl"
    longest_input = max(len(line) for f in (data, completions) for line in f.read_bytes().splitlines())
    shortest_result = min(len(line) for line in results.read_bytes().splitlines())
    assert shortest_result > longest_input + 10
    before = results.read_bytes()
    monkeypatch.setenv(
        "WIZARDMATH_MAX_RECORD_BYTES", str(longest_input + 5)
    )  # inputs fit, every result is longer

    assert (
        main(eval_flags(data, completions, out)) == 0
    )  # the re-run reads its own results: no "record longer"
    assert results.read_bytes() == before
    assert json.loads((out / "problems.summary.json").read_text())["n"] == 3
    assert "record longer" not in capsys.readouterr().err


def test_eval_without_results_accepts_new_settings(tmp_path, capsys):
    """A run that wrote its settings but no result (it failed early) does not block a run with others."""
    data = problems_file(tmp_path / "problems.jsonl", 2)
    completions = tmp_path / "completions.jsonl"
    completions.write_text(
        "".join(json.dumps({"id": f"p{i}", "completion": f"The answer is: {2 * i}"}) + "\n" for i in range(2))
    )
    out = tmp_path / "eval"
    assert main([*eval_flags(data, completions, out), "--max_new_tokens", "10"]) == 0
    (out / "problems.jsonl").unlink()
    (out / "problems.summary.json").unlink()
    assert main([*eval_flags(data, completions, out), "--max_new_tokens", "99"]) == 0
    assert json.loads((out / "problems.run.json").read_text())["max_new_tokens"] == 99
    assert (
        main([*eval_flags(data, completions, out), "--max_new_tokens", "10"]) == 1
    )  # now there are results to mix
    assert "holds results of a run with other settings (max_new_tokens: 99 -> 10)" in capsys.readouterr().err


def test_eval_overwrite_removes_torn_lines_too(tmp_path):
    data = problems_file(tmp_path / "problems.jsonl", 2)
    completions = tmp_path / "completions.jsonl"
    completions.write_text(
        "".join(json.dumps({"id": f"p{i}", "completion": f"The answer is: {2 * i}"}) + "\n" for i in range(2))
    )
    out = tmp_path / "eval"
    assert main(eval_flags(data, completions, out)) == 0
    results = out / "problems.jsonl"
    results.write_bytes(results.read_bytes().replace(b"\n", b"", 1))  # tear the first line
    assert main(eval_flags(data, completions, out)) == 0
    assert (out / "problems.jsonl.torn").exists()
    assert main([*eval_flags(data, completions, out), "--overwrite", "true"]) == 0
    assert not (out / "problems.jsonl.torn").exists()  # an old run's torn lines are not this run's
    assert sorted(json.loads(line)["id"] for line in results.read_text().splitlines()) == ["p0", "p1"]
