"""``solve``: verified SFT rows in TRL prompt/completion format, negatives kept, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.backends import BACKENDS, Backend, Generation
from wizardmath.config import load_config
from wizardmath.data import format_prompt
from wizardmath.evol import SolveConfig, solve
from wizardmath.evol.solve import completion_text
from wizardmath.evol.symbolic import generate_problems
from wizardmath.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]


def write_problems(path: Path, problems) -> Path:
    path.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    return path


def test_solve_symbolic_problems_with_gold(tmp_path):
    problems = generate_problems(60, seed=3, min_ops=2, max_ops=4)
    data = write_problems(tmp_path / "problems.jsonl", problems)
    config = load_config(
        SolveConfig,
        REPO / "configs/tiny/solve.yaml",
        data_path=str(data),
        output=str(tmp_path / "out"),
        backend_args=["error_rate=0.3"],
        progress=False,
    )
    stats = solve(config)
    rows = read_jsonl(tmp_path / "out/sft.jsonl")
    negatives = read_jsonl(tmp_path / "out/sft_rejected.jsonl")
    gold = {p.id: p for p in problems}
    assert len(rows) == stats["problems_with_rows"] >= 58  # 4 samples at 30% slips: almost always one right
    for row in rows:
        p = gold[row["id"]]
        assert row["prompt"] == format_prompt(p.problem, "wizardmath")
        assert row["completion"] == p.solution  # the gold step-by-step solution, WizardMath format
        assert row["completion"].startswith(" Step 1: ") and row["completion"].endswith(
            f"The answer is: {p.answer}"
        )
        assert (
            row["answer"] == p.answer and row["problem_id"] == p.id and row["problem"] == p.problem
        )  # raw, beside the prompt
    wrong = [n for n in negatives if n["reason"] == "wrong_answer"]
    assert all(n["problem"] == gold[n["problem_id"]].problem for n in wrong)
    assert 0.15 < len(wrong) / (4 * len(problems)) < 0.45
    assert all(
        n["answer"] != gold[n["problem_id"]].answer and n["gold"] == gold[n["problem_id"]].answer
        for n in wrong
    )
    assert stats["counts"]["wrong_answer"] == len(wrong)


def test_resume_after_a_partial_run_has_no_duplicates(tmp_path):
    problems = generate_problems(40, seed=4, min_ops=2, max_ops=4)
    data = write_problems(tmp_path / "problems.jsonl", problems)
    full = tmp_path / "full"
    common = {"backend": "symbolic", "backend_args": ["error_rate=0.3"], "chunk_size": 8, "progress": False}
    solve(SolveConfig(data_path=str(data), output=str(full), **common))
    part = tmp_path / "part"
    solve(SolveConfig(data_path=str(data), output=str(part), limit=17, **common))
    with (part / "sft_rejected.jsonl").open("a") as handle:  # a torn line, as SIGKILL leaves
        handle.write('{"id": "symbolic/4/17/neg0", "prob')
    solve(SolveConfig(data_path=str(data), output=str(part), **common))
    for name in ("sft.jsonl", "sft_rejected.jsonl"):
        got = read_jsonl(part / name)
        assert len({r["id"] for r in got}) == len(got)
        assert sorted(got, key=lambda r: r["id"]) == sorted(read_jsonl(full / name), key=lambda r: r["id"])


class Teacher(Backend):
    """Answers 7 twice and 9 twice for the first problem, 5 three times out of four for the second."""

    name = "teacher"

    def __init__(self, **_):
        pass

    def generate(self, prompts, sampling):
        out = []
        for prompt in prompts:
            answers = ["7", "9", "7", "9"] if "first" in str(prompt) else ["5", "5", "5", "6"]
            out.append([Generation(f"Step 1: think.\nThe answer is: {a}") for a in answers[: sampling.n]])
        return out


def test_majority_without_gold_and_chat_format(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, "teacher", f"{__name__}:Teacher")
    data = tmp_path / "p.jsonl"
    data.write_text(
        '{"id": "p1", "problem": "the first one"}\n'
        '{"id": "p2", "problem": "the second one", "round": 2, "parent_id": "p0"}\n'
    )
    stats = solve(
        SolveConfig(
            backend="teacher",
            data_path=str(data),
            output=str(tmp_path / "o"),
            template="chat",
            progress=False,
        )
    )
    rows = read_jsonl(tmp_path / "o/sft.jsonl")
    assert [r["id"] for r in rows] == ["p2"]  # p1 is a 2-2 tie: no majority above one half
    assert rows[0]["answer"] == "5" and rows[0]["round"] == 2 and rows[0]["parent_id"] == "p0"
    assert rows[0]["prompt"][0]["role"] == "user" and rows[0]["completion"][0]["role"] == "assistant"
    assert (
        rows[0]["problem"] == "the second one"
    )  # what later stages read, instead of undoing the chat instruction
    rejected = read_jsonl(tmp_path / "o/sft_rejected.jsonl")
    assert {"p1"} == {r["id"] for r in rejected if r["reason"] == "no_verified_solution"}
    assert stats["yield"] == 0.5


def test_completion_text_adds_the_answer_line():
    assert (
        completion_text("Step 1: 2 + 2 = 4.\nThe answer is: 4", "4", "wizardmath")
        == " Step 1: 2 + 2 = 4.\nThe answer is: 4"
    )
    assert completion_text("2 + 2 = \\boxed{4}", "4", "raw") == "2 + 2 = \\boxed{4}\nThe answer is: 4"


def test_config_errors():
    with pytest.raises(ValueError, match="keep_per_problem"):
        SolveConfig(num_samples=2, keep_per_problem=3)
    with pytest.raises(ValueError, match="template"):
        SolveConfig(template="alpaca")
    with pytest.raises(ValueError, match="data_path"):
        solve(SolveConfig(progress=False))
