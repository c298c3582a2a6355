"""Many pairs at once: the in-process fast path first, then sympy on the shared sandbox workers.

``check_batch`` decides what it can in the calling process (exact numbers, strings, structure:
for GSM8k-style data that is nearly every pair) and hands the rest to up to ``workers`` of the
sandbox's reused worker processes at once, each pair under a hard wall-clock ``timeout``; an
overrunning worker is killed and replaced and its pair is "not equal" with a ``timeout`` reason.
Results come back in input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from wizardmath.verify.equivalence import asks_to_factor, fast_check
from wizardmath.verify.options import DEFAULT_OPTIONS, Verdict, VerifyOptions
from wizardmath.verify.sandbox import run_symbolic_many


def check_batch(
    pairs: Iterable[tuple[str, str]],
    workers: int = 1,
    timeout: float | None = None,
    options: VerifyOptions | None = None,
    problems: Sequence[str | None] | None = None,
) -> list[Verdict]:
    """A ``Verdict`` per ``(gold, response)`` pair, in order. ``workers`` sandbox workers run at
    once (0 counts as 1); ``timeout`` defaults to ``options.timeout`` (seconds per pair).
    ``problems`` (optional, one per pair) is read as ``check`` reads ``problem``."""
    options = options or DEFAULT_OPTIONS
    factored = replace(options, factored=True)
    results: list[Verdict | None] = []
    pending: list[tuple[int, str, str, VerifyOptions]] = []
    for index, (gold, response) in enumerate(pairs):
        problem = problems[index] if problems is not None and index < len(problems) else None
        pair_options = factored if isinstance(problem, str) and asks_to_factor(problem) else options
        try:
            verdict, gold_answer, answer = fast_check(gold, response, pair_options)
        except Exception as err:  # same contract as ``check``: a reason, never a crash
            verdict, gold_answer, answer = (
                Verdict(False, None, f"internal error: {type(err).__name__}: {err}"),
                "",
                None,
            )
        results.append(verdict)
        if verdict is None:
            pending.append((index, gold_answer, answer or "", pair_options))
    for group_options in {pair_options for *_, pair_options in pending}:  # one sympy run per options
        group = [item for item in pending if item[3] == group_options]
        symbolic = run_symbolic_many(
            [(gold, answer) for _, gold, answer, _ in group], group_options, timeout, workers
        )
        for (index, _, answer, _), (equal, reason) in zip(group, symbolic, strict=True):
            results[index] = Verdict(equal, answer, reason)
    return [r if r is not None else Verdict(False, None, "lost") for r in results]


def verify_batch(
    pairs: Iterable[tuple[str, str]],
    workers: int = 1,
    timeout: float | None = None,
    options: VerifyOptions | None = None,
    problems: Sequence[str | None] | None = None,
) -> list[bool]:
    """``verify`` for many pairs: a bool per ``(gold, response)`` pair, in order (see ``check_batch``)."""
    verdicts = check_batch(pairs, workers=workers, timeout=timeout, options=options, problems=problems)
    return [v.equal for v in verdicts]
