"""Turn completions into graded per-problem records: extract, compare with gold, vote, rerank.

Grading goes through ``wizardmath.verify``: all (gold, response) pairs of a chunk go to
``check_batch`` at once, so the rare pairs that need sympy run in parallel sandbox workers.

``answer_format`` says where the final answer may be read from:

============== ==========================================================================
``any``        the verifier's order: last ``\\boxed{}``, "The answer is: X", ``#### X``, the
               math of the final sentence, a bare answer, then the last number
``wizardmath`` only "The answer is: X" (WizardMath's own evaluation)
``boxed``      only ``\\boxed{X}`` (MATH-style graders)
``gsm8k``      only ``#### X``
============== ==========================================================================

Unfinished outputs: a completion cut at the length limit is graded on the answer it states and
counted in the summary's ``truncated``; one that is a repetition loop (``#### 540`` forty times,
``wizardmath.data.degenerate``) is graded wrong whatever number it repeats, and counted in ``loops``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from wizardmath.data import MathProblem
from wizardmath.eval.metrics import vote_clusters

ANSWER_FORMATS = ("any", "wizardmath", "boxed", "gsm8k")
_WIZARDMATH_MARKER = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\b")

# (problem, completions) -> one score per completion, higher is better (e.g. a PRM's min step score).
Scorer = Callable[[MathProblem, list[str]], list[float]]


def extract_in_format(text: str, answer_format: str = "any") -> str | None:
    """The final answer of ``text`` read only where ``answer_format`` allows (see the module doc)."""
    from wizardmath.verify import extract_answer, extract_boxed

    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer_format '{answer_format}'; valid: {', '.join(ANSWER_FORMATS)}")
    if not isinstance(text, str) or not text.strip():
        return None
    if answer_format == "any":
        return extract_answer(text)
    if answer_format == "boxed":
        return extract_answer(text) if extract_boxed(text) is not None else None
    if answer_format == "gsm8k":
        at = text.rfind("####")
        return extract_answer(text[at:].split("\n", 1)[0]) if at >= 0 else None
    starts = [m.start() for m in _WIZARDMATH_MARKER.finditer(text)]
    return extract_answer(text[starts[-1] :]) if starts else None


def _responses(texts: Sequence[str], answer_format: str) -> list[str]:
    """What the verifier is given: the raw text for ``any``; for a strict format the answer found
    there, boxed, so the verifier reads exactly that answer and nothing else."""
    if answer_format == "any":
        return list(texts)
    out = []
    for text in texts:
        answer = extract_in_format(text, answer_format)
        out.append(f"\\boxed{{{answer}}}" if answer is not None else "")
    return out


def grade_chunk(
    problems: Sequence[MathProblem],
    completions: Sequence[Sequence[Any]],
    answer_format: str = "any",
    workers: int = 2,
    scorer: Scorer | None = None,
) -> list[dict[str, Any]]:
    """One record per problem. ``completions[i]`` holds ``Generation``s (or plain strings) for
    ``problems[i]``. Records are JSON-ready and carry all the summary needs."""
    from wizardmath.data.degenerate import is_repetition_loop
    from wizardmath.verify import check_batch, is_equivalent

    texts = [[getattr(c, "text", c) for c in group] for group in completions]
    pairs = [
        (str(p.answer), r)
        for p, group in zip(problems, texts, strict=True)
        for r in _responses(group, answer_format)
    ]
    verdicts = iter(check_batch(pairs, workers=workers))
    records = []
    for problem, group, gens in zip(problems, texts, completions, strict=True):
        graded = [next(verdicts) for _ in group]
        answers = [v.extracted for v in graded]
        loops = [is_repetition_loop(text) for text in group]
        # A repetition loop earns nothing even when it holds the right number (see module doc).
        correct = [bool(v.equal) and not loop for v, loop in zip(graded, loops, strict=True)]
        record: dict[str, Any] = {
            "id": problem.id,
            "problem": problem.problem,
            "gold": problem.answer,
            "level": problem.level,
            "subject": problem.subject,
            "completions": group,
            "answers": answers,
            "correct": correct,
            "reasons": [v.reason for v in graded],
            "finish_reasons": [getattr(g, "finish_reason", None) for g in gens],
            "loops": loops,
            "completion_tokens": [getattr(g, "completion_tokens", 0) for g in gens],
        }
        if len(group) > 1:
            clusters = vote_clusters(answers, is_equivalent)
            record["maj_answer"] = answers[clusters[0][0]] if clusters else None
            record["maj_correct"] = bool(clusters) and correct[clusters[0][0]]
        if scorer is not None:
            record.update(rerank_fields(problem, group, answers, correct, scorer, is_equivalent))
        records.append({k: v for k, v in record.items() if v is not None or k in ("maj_answer",)})
    return records


def rerank_fields(
    problem: MathProblem,
    texts: list[str],
    answers: list[str | None],
    correct: list[bool],
    scorer: Scorer,
    equivalent: Callable[[str, str], bool],
) -> dict[str, Any]:
    """Best-of-K by score and the score-weighted majority vote (the PRM rows of the report)."""
    scores = [float(s) for s in scorer(problem, texts)]
    if len(scores) != len(texts):
        raise ValueError(f"scorer returned {len(scores)} scores for {len(texts)} completions")
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    clusters = vote_clusters(answers, equivalent, weights=scores)
    return {
        "scores": scores,
        "rerank_correct": correct[best],
        "weighted_maj_correct": bool(clusters) and correct[clusters[0][0]],
    }
