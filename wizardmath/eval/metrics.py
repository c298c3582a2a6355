"""Pure metric functions: unbiased pass@k, majority vote by verifier equivalence, and the summary.

The summary is computed from the per-problem records alone (what ``DIR/<dataset>.jsonl`` holds), in
id order and rounded, so a run that was killed and resumed reports exactly what an uninterrupted
run reports.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

# Published WizardMath results (pass@1, greedy), shown beside a run for orientation.
PAPER_RESULTS = {
    "gsm8k": {
        "WizardMath-7B (LLaMA-2)": 54.9,
        "WizardMath-13B (LLaMA-2)": 63.9,
        "WizardMath-70B (LLaMA-2)": 81.6,
        "WizardMath-7B v1.1 (Mistral-7B)": 83.2,
    },
    "math": {
        "WizardMath-7B (LLaMA-2)": 10.7,
        "WizardMath-13B (LLaMA-2)": 14.0,
        "WizardMath-70B (LLaMA-2)": 22.7,
        "WizardMath-7B v1.1 (Mistral-7B)": 33.0,
    },
}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct (Chen et al., 2021).

    ``1 - C(n-c, k) / C(n, k)``, computed as a product so large ``n`` neither overflows nor loses
    precision. ``k > n`` is an error: the estimate needs at least ``k`` samples.
    """
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def vote_clusters(
    answers: Sequence[str | None],
    equivalent: Callable[[str, str], bool] | None = None,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float, list[int]]]:
    """Group answers that the verifier calls equal; ``[(representative index, weight, members)]``.

    Identical strings are grouped without asking the verifier; ``None`` (no answer found) never
    votes. Clusters come sorted by weight, ties broken by the earliest answer.
    """
    if equivalent is None:
        from wizardmath.verify import is_equivalent as equivalent
    weights = [1.0] * len(answers) if weights is None else list(weights)
    clusters: list[tuple[int, float, list[int]]] = []
    by_text: dict[str, int] = {}
    for index, answer in enumerate(answers):
        if answer is None or not str(answer).strip():
            continue
        slot = by_text.get(answer)
        if slot is None:
            slot = next(
                (s for s, (rep, _, _) in enumerate(clusters) if equivalent(answers[rep], answer)), None
            )
        if slot is None:
            clusters.append((index, 0.0, []))
            slot = len(clusters) - 1
        rep, weight, members = clusters[slot]
        clusters[slot] = (rep, weight + weights[index], [*members, index])
        by_text[answer] = slot
    return sorted(clusters, key=lambda c: (-c[1], c[0]))


def pair_wins(scores: Sequence[float], correct: Sequence[bool]) -> tuple[float, int]:
    """Within one problem: over every (correct, wrong) pair of samples, how many the scorer orders
    right (the correct one scores higher; a tie counts half), and how many pairs there are."""
    wins, pairs = 0.0, 0
    for right_score, right in zip(scores, correct, strict=True):
        for wrong_score, wrong in zip(scores, correct, strict=True):
            if right and not wrong:
                pairs += 1
                wins += 1.0 if right_score > wrong_score else 0.5 if right_score == wrong_score else 0.0
    return wins, pairs


def majority_vote(
    answers: Sequence[str | None],
    equivalent: Callable[[str, str], bool] | None = None,
    weights: Sequence[float] | None = None,
) -> str | None:
    """The answer most samples agree on, grouping verifier-equivalent answers (``1/2`` and ``0.5``
    vote together). With ``weights`` (e.g. reward-model scores) it is a weighted vote. ``None`` when
    no sample has an answer."""
    clusters = vote_clusters(answers, equivalent, weights)
    return answers[clusters[0][0]] if clusters else None


def _rate(values: list[float]) -> float:
    return round(sum(values) / len(values), 6) if values else 0.0


def _group(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.get(key) is not None:
            groups[str(record[key])].append(record["accuracy"])
    return {name: {"n": len(v), "accuracy": _rate(v)} for name, v in sorted(groups.items())}


def ks_for(num_samples: int) -> list[int]:
    """The k reported for pass@k: powers of two up to the sample count, and the count itself."""
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k < num_samples]
    return [*ks, num_samples]


def summarize(records: list[dict[str, Any]], num_samples: int) -> dict[str, Any]:
    """Metrics over per-problem records (see ``wizardmath.eval.grading.grade_problem``).

    ``accuracy`` is the mean fraction of correct samples per problem: greedy pass@1 with one
    sample, the unbiased pass@1 estimate with several.
    """
    records = sorted(records, key=lambda r: str(r["id"]))
    for record in records:
        correct = record["correct"]
        record["accuracy"] = sum(correct) / len(correct) if correct else 0.0
    samples = [len(r["correct"]) for r in records]
    summary: dict[str, Any] = {
        "accuracy": _rate([r["accuracy"] for r in records]),
        "n": len(records),
        "correct": sum(bool(r["correct"] and r["correct"][0]) for r in records),
        "samples": sum(samples),
        "no_answer": sum(a is None for r in records for a in r["answers"]),
    }
    if num_samples > 1 and records:
        k_max = min(samples)
        summary["pass@k"] = {
            str(k): _rate([pass_at_k(len(r["correct"]), sum(r["correct"]), k) for r in records])
            for k in ks_for(k_max)
        }
        summary[f"maj@{k_max}"] = _rate([float(r.get("maj_correct", False)) for r in records])
    if records and all("scores" in r for r in records):
        summary[f"rerank@{min(samples)}"] = _rate([float(r["rerank_correct"]) for r in records])
        summary[f"weighted_maj@{min(samples)}"] = _rate([float(r["weighted_maj_correct"]) for r in records])
    summary["by_level"] = _group(records, "level")
    summary["by_subject"] = _group(records, "subject")
    finish = Counter(f for r in records for f in r.get("finish_reasons", []) if f)
    summary["finish_reasons"] = dict(sorted(finish.items()))
    # Cut at the length limit: graded as they stand (the answer they state), but counted apart so a
    # score carried by unfinished outputs shows; loops among them earn nothing (grading).
    summary["truncated"] = finish.get("length", 0)
    summary["loops"] = sum(bool(x) for r in records for x in r.get("loops", []))
    answered = summary["samples"] - summary["no_answer"]
    summary["answer_found"] = round(answered / summary["samples"], 4) if summary["samples"] else 0.0
    tokens = [t for r in records for t in r.get("completion_tokens", []) if t]
    summary["mean_completion_tokens"] = round(sum(tokens) / len(tokens), 2) if tokens else 0.0
    for record in records:
        del record["accuracy"]
    return summary
