"""Gold checks on the real test sets: the grader must give gold answers full marks and nothing else.

These read ../shared/data (skipped where a checkout has none) and go through the CLI, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval_helpers import gsm8k_gold_text, write_completions

from wizardmath.cli import main
from wizardmath.data import load_problems


def run_cli(*args: str) -> dict:
    assert main(["eval", *args, "--progress", "false"]) == 0
    out = Path(args[args.index("--output") + 1])
    name = args[args.index("--dataset") + 1]
    return json.loads((out / f"{name}.summary.json").read_text())


def test_gsm8k_gold_answers_score_100(gsm8k_problems, gsm8k_test: Path, tmp_path: Path) -> None:
    completions = write_completions(
        tmp_path / "gold.jsonl", [(p.id, gsm8k_gold_text(p.solution)) for p in gsm8k_problems]
    )
    summary = run_cli(
        "--dataset",
        "gsm8k",
        "--data-path",
        str(gsm8k_test),
        "--completions",
        str(completions),
        "--output",
        str(tmp_path / "out"),
    )
    assert summary["n"] == len(gsm8k_problems) == 1319
    assert summary["correct"] == 1319 and summary["accuracy"] == 1.0


def test_gsm8k_gold_shifted_by_one_scores_only_equal_neighbours(
    gsm8k_problems, gsm8k_test: Path, tmp_path: Path
) -> None:
    texts = [gsm8k_gold_text(p.solution) for p in gsm8k_problems]
    shifted = [
        (p.id, texts[i - 1]) for i, p in enumerate(gsm8k_problems)
    ]  # problem i gets problem i-1's answer
    completions = write_completions(tmp_path / "shifted.jsonl", shifted)
    summary = run_cli(
        "--dataset",
        "gsm8k",
        "--data-path",
        str(gsm8k_test),
        "--completions",
        str(completions),
        "--output",
        str(tmp_path / "out"),
    )
    same_as_neighbour = sum(gsm8k_problems[i].answer == gsm8k_problems[i - 1].answer for i in range(1319))
    assert same_as_neighbour == 15
    assert (summary["correct"], summary["n"]) == (15, 1319)


def test_math500_gold_solutions_score_at_least_99_5(math500_test: Path, tmp_path: Path) -> None:
    problems = load_problems("math500", math500_test)
    completions = write_completions(tmp_path / "gold.jsonl", [(p.id, p.solution) for p in problems])
    summary = run_cli(
        "--dataset",
        "math500",
        "--data-path",
        str(math500_test),
        "--completions",
        str(completions),
        "--output",
        str(tmp_path / "out"),
    )
    assert summary["n"] == 500
    assert summary["accuracy"] >= 0.995
    assert set(summary["by_level"]) == {"1", "2", "3", "4", "5"}
    assert len(summary["by_subject"]) == 7
