"""Step checking for PRM labels: arithmetic claims are correct, wrong or unknown, never guessed."""

from __future__ import annotations

import time

import pytest

from wizardmath.verify import check_steps, split_steps


def verdicts(solution: str) -> list[str]:
    return [s.verdict for s in check_steps(solution)]


def test_split_on_step_markers():
    text = "Step 1: add 3 + 4 = 7.\nStep 2: double it, 7 * 2 = 14.\nThe answer is: 14"
    steps = split_steps(text)
    assert len(steps) == 2 and steps[0].startswith("Step 1") and "answer" in steps[1]


def test_split_on_lines_without_markers():
    assert split_steps("a = 1\n\nb = 2\n") == ["a = 1", "b = 2"]


def test_spans_index_the_solution():
    text = "Step 1: 3 + 4 = 7\nStep 2: 7 * 2 = 15"
    for step in check_steps(text):
        assert text[step.start : step.end].strip() == step.text


@pytest.mark.parametrize(
    ("step", "want"),
    [
        ("3 + 4 = 7", "correct"),
        ("3 + 4 = 8", "wrong"),
        ("12 * 3 = 36 - 6 = 30", "correct"),
        ("12 * 3 = 36 - 6 = 31", "wrong"),
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.", "correct"),
        ("She makes 9 * 2 = $<<9*2=19>>19 a day.", "wrong"),
        ("Each gets 10/3 = <<10/3=3.33>>3.33 cookies.", "correct"),
        ("Total is $1,200 + $300 = $1,500.", "correct"),
        ("So 5 x 4 = 20 pencils.", "correct"),
        ("We get $\\frac{12}{3} = 4$.", "correct"),
        ("We get $\\frac{12}{3} = 5$.", "wrong"),
        ("Then \\(2^{10} = 1024\\).", "correct"),
        ("Hence $x + 3 = 7$ so $x = 4$.", "unknown"),
        ("20% of 50 = 10", "unknown"),
        ("3 times 4 + 2 = 14", "unknown"),
        ("We need to find how many apples.", "unknown"),
        ("The ratio is 2:3.", "unknown"),
        ("In 2020, 3 + 4 = 7 people came.", "correct"),
        ("25% * 80 = 20", "correct"),
        ("1/3 ≈ 0.33", "correct"),
    ],
)
def test_step_verdicts(step, want):
    assert verdicts(step) == [want]


def test_wrong_step_has_reason():
    (step,) = check_steps("3 + 4 = 8")
    (claim,) = step.claims
    assert claim.verdict == "wrong" and "7" in claim.reason


def test_hostile_steps_are_unknown_fast():
    start = time.perf_counter()
    assert verdicts("9**9**9**9 = 1") == ["unknown"]
    assert verdicts("<<10**10**10=1>>") == ["unknown"]
    assert verdicts("1" * 50_000 + " = 1") == ["unknown"]  # too long to read: unknown, never a verdict
    assert time.perf_counter() - start < 2.0
