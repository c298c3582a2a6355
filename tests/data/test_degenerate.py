"""Repetition loops (no credit, no reward) against ordinary solutions (graded as usual)."""

from __future__ import annotations

import pytest

from wizardmath.data.degenerate import is_repetition_loop

LOOPS = [
    "#### 540\n" * 40,
    "Janet sells 16 eggs.\n" + "The answer is 18.\n" * 12,
    "So the total is 5. " * 20,
    "Step 1: 3 + 4 = 7\n" + "7 + 0 = 7, " * 30,
    "abcabc" * 30,
    "Let me think. " + "x" * 200,
]
FINE = [
    "Step 1: 48 / 2 = 24\nStep 2: 48 + 24 = 72\nThe answer is: 72",
    "1 + 1 = 2, 2 + 2 = 4, 4 + 4 = 8, 8 + 8 = 16, 16 + 16 = 32, 32 + 32 = 64. The answer is: 64",
    "Step 1: 2 + 2 = 4\nStep 2: 4 + 2 = 6\nStep 3: 6 + 2 = 8\nThe answer is: 8",
    "The answer is: 5",
    "",
    "\\boxed{12}",
    "Each day: 3 eggs.\nEach day: 3 eggs.\nSo in 7 days she lays 3 * 7 = 21 eggs, and sells 21 - 5 = 16.\n"
    "Then 16 * 2 = 32 dollars.\nThe answer is: 32",
]


@pytest.mark.parametrize("text", LOOPS)
def test_loops_are_found(text):
    assert is_repetition_loop(text)


@pytest.mark.parametrize("text", FINE)
def test_solutions_are_not_loops(text):
    assert not is_repetition_loop(text)


def test_huge_input_is_bounded():
    import time

    start = time.perf_counter()
    assert is_repetition_loop("0123456789" * 200_000)
    import random

    rng = random.Random(0)
    assert not is_repetition_loop("".join(chr(rng.randint(33, 122)) for _ in range(100_000)))
    assert time.perf_counter() - start < 2.0
