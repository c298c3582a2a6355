"""Stepwise records and the PRM800K / Math-Shepherd importers, on small files in the real formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward_models.stepwise import check_record, detect_format, from_math_shepherd, load_stepwise
from wizardmath.jsonl import DataError

DATA = Path(__file__).parent / "data"


def test_check_record_accepts_bools_nulls_and_soft_labels():
    record = {"prompt": "p", "completions": ["a", "b"], "labels": [True, None], "soft_labels": [0.5, None]}
    assert check_record(record, "f.jsonl", 3)["labels"] == [True, None]
    assert check_record({"prompt": "p", "completions": ["a"], "labels": [1]}, "f", 1)["labels"] == [True]


@pytest.mark.parametrize(
    "record, field",
    [
        ({"completions": ["a"], "labels": [True]}, "prompt"),
        ({"prompt": "p", "completions": [], "labels": []}, "completions"),
        ({"prompt": "p", "completions": ["a", "b"], "labels": [True]}, "labels"),
        ({"prompt": "p", "completions": ["a"], "labels": ["yes"]}, "labels"),
        ({"prompt": "p", "completions": ["a"], "labels": [True], "soft_labels": [1.5]}, "soft_labels"),
    ],
)
def test_check_record_names_file_line_and_field(record, field):
    with pytest.raises(DataError, match=rf"f\.jsonl:7: field '{field}'"):
        check_record(record, "f.jsonl", 7)


# PRM800K: phase 2 stops at the first -1; phase 1 has alternatives and a human-written step.
def test_prm800k_neutral_as_positive():
    records = load_stepwise(str(DATA / "prm800k_sample.jsonl"), "prm800k")
    assert len(records) == 2  # the bad_problem line has no rated step
    phase2, phase1 = records
    assert phase2["prompt"] == "What is $3 \\cdot 4 + 5$?"
    assert phase2["completions"] == [
        "I need to multiply first.",
        "So $3 \\cdot 4 = 12$.",
        "Then $12 + 5 = 18$.",
    ]
    assert phase2["labels"] == [True, True, False]
    assert phase2["answer"] == "17" and phase2["meta"]["finish_reason"] == "found_error"
    # chosen alternative, then the human step (labelled +1), then the final answer
    assert phase1["completions"] == ["Divide both sides by 2.", "So $x = 5$.", "# Answer\n\n5"]
    assert phase1["labels"] == [True, True, True]


def test_prm800k_neutral_as_negative():
    phase2 = load_stepwise(str(DATA / "prm800k_sample.jsonl"), "prm800k", neutral_as="negative")[0]
    assert phase2["labels"] == [False, True, False]


def test_math_shepherd_tags_become_labels():
    records = load_stepwise(str(DATA / "math_shepherd_sample.jsonl"), "math-shepherd")
    first, second = records
    assert first["prompt"].startswith("Janet has 16 eggs") and first["prompt"].endswith(
        "How much does she make?"
    )
    assert first["completions"] == [
        "Step 1: She has 16 - 3 = <<16-3=13>>13 eggs left.",
        "Step 2: She makes 13 * 2 = <<13*2=26>>26 dollars.",
        "Step 3: The answer is: 26",
    ]
    assert first["labels"] == [True, True, True]
    assert second["labels"] == [False, False]
    assert first["meta"]["task"] == "GSM8K"


def test_math_shepherd_mismatched_label_is_a_data_error():
    row = {"input": "Q? Step 1: a ки\nStep 2: b ки", "label": "Q? Step 1: a +\nStep 2: b"}
    with pytest.raises(DataError, match="x.jsonl:4: field 'label'"):
        from_math_shepherd(row, "x.jsonl", 4)


def test_auto_format_detection(tmp_path):
    assert detect_format({"prompt": "p", "completions": [], "labels": []}) == "stepwise"
    assert detect_format({"input": "x", "label": "y"}) == "math-shepherd"
    assert detect_format({"question": {}, "label": {"steps": []}}) == "prm800k"
    with pytest.raises(ValueError, match="stepwise, prm800k, math-shepherd"):
        detect_format({"text": "x"})
    assert len(load_stepwise(str(DATA / "math_shepherd_sample.jsonl"))) == 2


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "p", "completions": ["a"], "labels": [True]}) + "\n{oops\n")
    with pytest.raises(DataError, match="bad.jsonl:2"):
        load_stepwise(str(path))


def test_label_prm_import_command(tmp_path):
    from wizardmath.cli import main

    out = tmp_path / "ms.jsonl"
    assert (
        main(
            [
                "label-prm",
                "--import_format",
                "math-shepherd",
                "--data-path",
                str(DATA / "math_shepherd_sample.jsonl"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["labels"] for r in rows] == [[True, True, True], [False, False]]
