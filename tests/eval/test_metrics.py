"""pass@k and majority vote: hand-computed cases, and the closed form against brute force."""

from __future__ import annotations

import itertools
import math

import pytest

from wizardmath.eval import majority_vote, pass_at_k, summarize, vote_clusters
from wizardmath.eval.metrics import ks_for, pair_wins


# Hand-computed: 1 - C(n-c, k) / C(n, k).
@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),
        (5, 2, 2, 1 - 3 / 10),
        (5, 0, 3, 0.0),
        (5, 5, 1, 1.0),
        (4, 2, 3, 1.0),  # n - c < k: every k-subset holds a correct sample
        (1, 1, 1, 1.0),
        (10, 1, 10, 1.0),
    ],
)
def test_pass_at_k_hand_cases(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_matches_enumerating_subsets() -> None:
    # The estimator is the fraction of k-subsets of the n samples that hold a correct one.
    for n in range(1, 8):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_large_n_is_stable() -> None:
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert pass_at_k(1000, 10, 100) == pytest.approx(1 - math.comb(990, 100) / math.comb(1000, 100))


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)])
def test_pass_at_k_rejects_impossible_inputs(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_majority_groups_verifier_equivalent_answers() -> None:
    # 1/2, 0.5 and \frac12 are one answer with three votes; 3 has two.
    assert majority_vote(["3", "1/2", "0.5", "3", "\\frac{1}{2}"]) == "1/2"


def test_majority_ignores_missing_answers_and_breaks_ties_by_first() -> None:
    assert majority_vote([None, "7", None, "8"]) == "7"
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


def test_weighted_vote_follows_the_weights() -> None:
    answers = ["5", "5", "6"]
    assert majority_vote(answers) == "5"
    assert majority_vote(answers, weights=[0.1, 0.1, 0.9]) == "6"


def test_identical_strings_skip_the_verifier() -> None:
    calls = []

    def equivalent(a: str, b: str) -> bool:
        calls.append((a, b))
        return a == b

    clusters = vote_clusters(["4", "4", "4", "5"], equivalent)
    assert [(rep, weight) for rep, weight, _ in clusters] == [(0, 3.0), (3, 1.0)]
    assert calls == [("4", "5")]


def test_ks_for_sample_counts() -> None:
    assert ks_for(1) == [1]
    assert ks_for(8) == [1, 2, 4, 8]
    assert ks_for(10) == [1, 2, 4, 8, 10]


def test_summary_by_level_subject_and_order_independence() -> None:
    records = [
        {
            "id": "a",
            "correct": [True, False],
            "answers": ["1", None],
            "level": 1,
            "subject": "Algebra",
            "maj_correct": True,
        },
        {
            "id": "b",
            "correct": [False, False],
            "answers": ["2", "3"],
            "level": 2,
            "subject": "Algebra",
            "maj_correct": False,
        },
        {"id": "c", "correct": [True, True], "answers": ["4", "4"], "level": 2, "maj_correct": True},
    ]
    summary = summarize([dict(r) for r in records], num_samples=2)
    assert summary["accuracy"] == pytest.approx(0.5)
    assert summary["n"] == 3 and summary["correct"] == 2 and summary["no_answer"] == 1
    assert summary["pass@k"] == {"1": 0.5, "2": pytest.approx(2 / 3, abs=1e-6)}
    assert summary["maj@2"] == pytest.approx(2 / 3, abs=1e-6)
    assert summary["by_level"] == {"1": {"n": 1, "accuracy": 0.5}, "2": {"n": 2, "accuracy": 0.5}}
    assert summary["by_subject"] == {"Algebra": {"n": 2, "accuracy": 0.25}}
    assert summarize([dict(r) for r in reversed(records)], num_samples=2) == summary


@pytest.mark.parametrize(
    ("scores", "correct", "expected"),
    [
        ([0.9, 0.1], [True, False], (1.0, 1)),  # ordered right
        ([0.1, 0.9], [True, False], (0.0, 1)),  # ordered wrong
        ([0.5, 0.5], [True, False], (0.5, 1)),  # a tie counts half
        ([0.9, 0.2, 0.5], [True, False, False], (2.0, 2)),
        ([0.9, 0.4, 0.5], [True, True, False], (1.0, 2)),  # 0.9 > 0.5 yes, 0.4 > 0.5 no
        ([0.3, 0.7], [True, True], (0.0, 0)),  # no wrong sample: no pair
    ],
)
def test_pair_wins_counts_correct_over_wrong_pairs(scores, correct, expected) -> None:
    assert pair_wins(scores, correct) == expected
