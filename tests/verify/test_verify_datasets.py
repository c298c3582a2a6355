"""The real data: every MATH-500 and GSM8k gold answer verifies against its own solution."""

from __future__ import annotations

import json

import pytest

from wizardmath.verify import verify


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(60)
def test_math500_solutions(math500_test):
    rows = _rows(math500_test)
    assert all(verify(r["answer"], r["solution"]) for r in rows)
    shifted = [i for i, r in enumerate(rows) if verify(rows[(i + 1) % len(rows)]["answer"], r["solution"])]
    assert shifted == [22, 186, 403]  # 'x=5' vs '5', '7' vs '7', '3' vs '3'


@pytest.mark.timeout(60)
def test_gsm8k_solutions(gsm8k_test):
    rows = _rows(gsm8k_test)
    golds = [r["answer"].rsplit("####", 1)[1].strip() for r in rows]
    assert all(verify(g, r["answer"]) for g, r in zip(golds, rows, strict=True))
    shifted = sum(verify(golds[(i + 1) % len(rows)], r["answer"]) for i, r in enumerate(rows))
    same = sum(
        golds[i].replace(",", "") == golds[(i + 1) % len(rows)].replace(",", "") for i in range(len(rows))
    )
    assert shifted == same == 15
