"""Fixtures for the eval tests: gold completions built from the real data, small in-memory problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizardmath.data import MathProblem, load_problems


@pytest.fixture(scope="session")
def gsm8k_problems(gsm8k_test: Path) -> list[MathProblem]:
    return load_problems("gsm8k", gsm8k_test)


@pytest.fixture()
def small_problems() -> list[MathProblem]:
    """Six problems with known answers; levels and subjects to exercise the breakdowns."""
    rows = [
        ("a", "1+1", "2", 1, "Algebra"),
        ("b", "2+2", "4", 1, "Algebra"),
        ("c", "half of 1", "\\frac{1}{2}", 2, "Algebra"),
        ("d", "3*3", "9", 2, "Geometry"),
        ("e", "10-7", "3", 3, "Geometry"),
        ("f", "6/2", "3", 3, "Geometry"),
    ]
    return [MathProblem(id=i, problem=p, answer=a, level=lv, subject=s) for i, p, a, lv, s in rows]
