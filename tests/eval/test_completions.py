"""``--completions FILE``: scoring existing completions, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.eval import EvalConfig, evaluate
from wizardmath.jsonl import DataError


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config_for(tmp_path: Path, completions: Path, **kw) -> EvalConfig:
    return EvalConfig(
        completions=str(completions), output=str(tmp_path / "out"), progress=False, verify_workers=0, **kw
    )


def test_k_completions_give_pass_at_k_and_maj(small_problems, tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "completions": ["The answer is: 2", "The answer is: 3", "The answer is: 2", "The answer is: 5"],
        },
        {
            "id": "c",
            "completions": [
                "The answer is: 0.5",
                "The answer is: 1/2",
                "The answer is: 7",
                "The answer is: 1",
            ],
        },
        {
            "id": "d",
            "completions": ["The answer is: 1", "The answer is: 2", "The answer is: 9", "The answer is: 3"],
        },
    ]
    summary = evaluate(config_for(tmp_path, write_lines(tmp_path / "c.jsonl", rows)), problems=small_problems)
    assert summary["n"] == 3 and summary["missing"] == 0  # only problems with completions are scored
    assert summary["accuracy"] == pytest.approx((2 / 4 + 2 / 4 + 1 / 4) / 3, abs=1e-6)
    assert set(summary["pass@k"]) == {"1", "2", "4"} and summary["pass@k"]["4"] == 1.0
    assert summary["maj@4"] == pytest.approx(
        2 / 3, abs=1e-6
    )  # a: 2 wins; c: 0.5 = 1/2 wins; d: no majority -> first (1)
    assert summary["settings"]["backend"] == "completions"


def test_unknown_id_names_file_line_and_field(small_problems, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "c.jsonl", [{"id": "a", "completion": "2"}, {"id": "zzz", "completion": "2"}]
    )
    with pytest.raises(DataError, match=r"c\.jsonl:2: field 'id': id 'zzz' is not in the data set"):
        evaluate(config_for(tmp_path, path), problems=small_problems)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "a"}, "completion"),
        ({"id": "a", "completion": 5}, "completion"),
        ({"id": "a", "completions": []}, "completions"),
        ({"id": "a", "completions": ["x", 3]}, "completions"),
        ({"completion": "x"}, "id"),
    ],
)
def test_malformed_lines_name_the_field(small_problems, tmp_path: Path, row: dict, field: str) -> None:
    path = write_lines(tmp_path / "c.jsonl", [{"id": "b", "completion": "4"}, row])
    with pytest.raises(DataError, match=rf"c\.jsonl:2: field '{field}'"):
        evaluate(config_for(tmp_path, path), problems=small_problems)


def test_duplicate_id_is_an_error(small_problems, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.jsonl", [{"id": "a", "completion": "2"}, {"id": "a", "completion": "3"}])
    with pytest.raises(DataError, match="duplicate id 'a' \\(first at line 1\\)"):
        evaluate(config_for(tmp_path, path), problems=small_problems)


def test_gsm8k_limit_checks_ids_against_the_whole_set(
    gsm8k_problems, gsm8k_test: Path, tmp_path: Path
) -> None:
    # A completions file for the whole test set is valid with --limit: only the first N are scored.
    path = write_lines(
        tmp_path / "c.jsonl",
        [{"id": p.id, "completion": f"The answer is: {p.answer}"} for p in gsm8k_problems],
    )
    summary = evaluate(config_for(tmp_path, path, dataset="gsm8k", data_path=str(gsm8k_test), limit=10))
    assert (summary["n"], summary["correct"]) == (10, 10)
