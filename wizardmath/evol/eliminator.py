"""The eliminator: why an evolved problem is thrown away, as a reason string (None = keep).

Evol-Instruct's rules, applied to any backend's output alike:

- ``empty``: nothing left after cleaning;
- ``refusal``: a short reply that apologises or declines ("Sorry, I can't ...");
- ``stop_words_only``: only punctuation and stop words;
- ``template_leak``: the prompt's own words ("#Rewritten Prompt#", "Given Prompt") in the problem;
- ``no_information_gain``: the parent again (same normalised text), or judged "Equal" to the parent
  by the LLM with the ``equal`` prompt.

Ours: ``contaminated`` (n-gram overlap with the test sets), ``near_duplicate`` (of a problem
already accepted), ``unsolvable`` (the solver's K sampled answers do not agree, as judged by
``wizardmath.verify.is_equivalent``, on at least ``agreement_threshold`` of the samples), and
``generation_error`` (the backend gave up on the request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from wizardmath.evol.dedup import normalize

REASONS = (
    "empty",
    "refusal",
    "stop_words_only",
    "template_leak",
    "no_information_gain",
    "contaminated",
    "near_duplicate",
    "unsolvable",
    "generation_error",
)
REFUSAL_MAX_WORDS = 80  # Evol-Instruct: "sorry" in a short reply is a refusal, in a long one maybe not
_REFUSAL = re.compile(
    r"\b(sorry|apologi[sz]e|i can(?:no|')t|i cannot|i am unable|i'm unable|as an ai)\b", re.I
)
_LEAK = re.compile(
    r"#\s*(?:given|rewritten|created|new)\s+prompt\s*#|\b(?:given|rewritten|created)\s+prompt\b", re.I
)
STOP_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been it its this that "
    "these those there here what which who whom how why when where do does did not no yes so than then "
    "i you he she we they me him her us them my your his our their".split()
)


def rule_reason(text: str, parent: str) -> tuple[str, str] | None:
    """(reason, detail) from the cheap text rules, or None when the text passes them."""
    if not text.strip():
        return "empty", "no text after cleaning"
    words = text.split()
    if _REFUSAL.search(text) and len(words) < REFUSAL_MAX_WORDS:
        return "refusal", f"declines or apologises in {len(words)} words"
    if all(w in STOP_WORDS for w in normalize(text).split()):
        return "stop_words_only", "only punctuation and stop words"
    leak = _LEAK.search(text)
    if leak:
        return "template_leak", f"contains {leak.group(0)!r}"
    if normalize(text) == normalize(parent):
        return "no_information_gain", "same text as the parent"
    return None


# ----------------------------------------------------------------------------- answers


def _fallback_extract(text: str) -> str | None:
    marker = text.rfind("The answer is:")
    if marker < 0:
        return None
    answer = text[marker + len("The answer is:") :].strip().splitlines()
    return answer[0].strip().rstrip(".") if answer and answer[0].strip() else None


def _fallback_equal(gold: str, answer: str) -> bool:
    def value(s: str) -> Fraction | str:
        s = s.strip().replace(",", "").rstrip(".").strip("$ ")
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            return normalize(s)

    return value(gold) == value(answer)


def answer_tools() -> tuple[Callable[[str], str | None], Callable[[str, str], bool]]:
    """``(extract_answer, is_equivalent)`` from ``wizardmath.verify``; a plain numeric fallback if absent."""
    try:
        from wizardmath.verify import extract_answer, is_equivalent
    except ImportError:
        return _fallback_extract, _fallback_equal

    def equal(gold: str, answer: str) -> bool:
        return bool(is_equivalent(gold, answer))

    return extract_answer, equal


@dataclass
class Agreement:
    """How the solver's samples agree: the majority answer, its share, and the sample indexes backing it."""

    answer: str | None
    share: float
    members: list[int]
    answers: list[str | None]


def agreement(replies: Sequence[str], gold: str | None = None) -> Agreement:
    """Cluster the final answers of ``replies`` by equivalence; the largest cluster (or gold's) wins."""
    extract, equal = answer_tools()
    answers = [extract(r) if r else None for r in replies]
    if not replies:
        return Agreement(None, 0.0, [], answers)
    if gold is not None:
        members = [i for i, a in enumerate(answers) if a is not None and equal(gold, a)]
        return Agreement(gold, len(members) / len(replies), members, answers)
    clusters: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for cluster in clusters:
            if equal(answers[cluster[0]], answer):
                cluster.append(i)
                break
        else:
            clusters.append([i])
    if not clusters:
        return Agreement(None, 0.0, [], answers)
    best = max(clusters, key=len)  # ties: the earliest cluster, so the result is deterministic
    return Agreement(answers[best[0]], len(best) / len(replies), best, answers)
