"""Where answers are read from (answer formats) and what a graded record holds."""

from __future__ import annotations

import pytest

from wizardmath.backends import Generation
from wizardmath.data import MathProblem
from wizardmath.eval import extract_in_format, grade_chunk

RESPONSES = {
    # WizardMath's own answer line
    "wizardmath": "Step 1: 3 + 4 = 7.\nThe answer is: 7",
    # MATH-style box
    "boxed": "So the total is $\\boxed{7}$.",
    # GSM8k reference style
    "gsm8k": "3 + 4 = <<3+4=7>>7\n#### 7",
    # none of the markers: only the last-number fallback of "any" finds it
    "none": "I think it is 7 apples",
}


@pytest.mark.parametrize("fmt", ["wizardmath", "boxed", "gsm8k"])
def test_each_strict_format_reads_only_its_own_marker(fmt: str) -> None:
    for kind, text in RESPONSES.items():
        expected = "7" if kind == fmt else None
        assert extract_in_format(text, fmt) == expected, (fmt, kind)


def test_any_format_reads_all_three_markers_and_the_fallback() -> None:
    for text in RESPONSES.values():
        assert extract_in_format(text, "any") == "7"


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="any, wizardmath, boxed, gsm8k"):
        extract_in_format("x", "latex")


def test_grade_chunk_record_fields() -> None:
    problem = MathProblem(id="p1", problem="3+4", answer="7", level=2, subject="Algebra")
    gens = [
        Generation("The answer is: 7", completion_tokens=5, finish_reason="stop"),
        Generation("The answer is: 8", completion_tokens=6, finish_reason="length"),
        Generation("The answer is: 7.0", completion_tokens=7, finish_reason="stop"),
    ]
    [record] = grade_chunk([problem], [gens], workers=0)
    assert record["id"] == "p1" and record["gold"] == "7" and record["level"] == 2
    assert record["completions"] == [g.text for g in gens]
    assert record["answers"] == ["7", "8", "7.0"]
    assert record["correct"] == [True, False, True]
    assert record["finish_reasons"] == ["stop", "length", "stop"]
    assert record["completion_tokens"] == [5, 6, 7]
    assert record["maj_answer"] == "7" and record["maj_correct"] is True


def test_strict_format_marks_other_markers_wrong() -> None:
    problem = MathProblem(id="p1", problem="3+4", answer="7")
    [record] = grade_chunk([problem], [["#### 7"]], answer_format="wizardmath", workers=0)
    assert record["correct"] == [False] and record["answers"] == [None]
    [record] = grade_chunk([problem], [["#### 7"]], answer_format="gsm8k", workers=0)
    assert record["correct"] == [True]


def test_rerank_fields_from_a_scorer() -> None:
    problem = MathProblem(id="p1", problem="3+4", answer="7")
    texts = ["The answer is: 8", "The answer is: 8", "The answer is: 7"]

    def scorer(p: MathProblem, completions: list[str]) -> list[float]:
        return [0.9 if c.endswith("7") else 0.2 for c in completions]

    [record] = grade_chunk([problem], [texts], workers=0, scorer=scorer)
    assert record["scores"] == [0.2, 0.2, 0.9]
    assert record["maj_correct"] is False  # two votes for 8
    assert record["rerank_correct"] is True  # best score is the 7
    assert record["weighted_maj_correct"] is True  # 0.9 > 0.2 + 0.2
