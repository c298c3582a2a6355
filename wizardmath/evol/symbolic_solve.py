"""The symbolic world's teacher: the gold step-by-step solution of a word problem, in the decomposed gold
style or a terse one (``styled_solution``), with an arithmetic slip in a share of samples
(``solve_problem``); ``wizardmath.evol.symbolic.SymbolicBackend`` answers solve prompts with it."""

from __future__ import annotations

import random
from typing import Any

from wizardmath.evol import world as W
from wizardmath.evol.world import WordProblem

STYLES = ("decomposed", "terse")
TERSE_HEAD = "In short,"


TERSE_FORMS = ("folded", "lean", "direct")


def styled_solution(
    wp: WordProblem, seq: list[int], style: str = "decomposed", terse_form: str = "folded"
) -> tuple[str, str]:
    """(solution, answer) of ``wp`` whose counts after each step (then the price total) are ``seq[1:]``.

    ``decomposed`` is the gold format: one step per line, the problem's sentence restated before its
    equation, so every number the line needs sits right before it. ``terse`` writes as LLM teachers often
    do: one line that opens with "In short," (the style shows at the completion's first token), no
    restated sentences, and runs of additions, subtractions and bags folded into one expression whose
    result is written at once (12 + 5 - 3 = 14). Both are correct when ``seq`` is; a tiny student has to
    copy numbers from far back and do several operations in one go in the terse style.
    ``terse_form="lean"`` keeps the decomposed lines' equations, one step per line, and drops only the
    restated sentences (" In short,\nStep 1: 16 + 4 = 20.\n..."): the two styles then share their
    arithmetic, and differ only in where the numbers a line needs are read from.
    ``terse_form="direct"`` jumps to the result (" In short,\nThe answer is: 42"), the short direct
    answer that step-by-step reasoning is usually compared with.
    """
    from wizardmath.data.templates import format_solution

    if style == "decomposed":
        lines = [W.step_line(wp, step, seq[i], seq[i + 1]) for i, step in enumerate(wp.steps)]
        if wp.price is not None:
            lines.append(W.price_line(wp, seq[len(wp.steps)], seq[-1]))
        return format_solution(lines, str(seq[-1])), str(seq[-1])
    if style != "terse":
        raise ValueError(f"unknown solution style '{style}'; valid: {', '.join(STYLES)}")
    if terse_form == "lean":
        lines = [
            f"Step {i + 1}: " + W.step_line(wp, step, seq[i], seq[i + 1]).split(", so ", 1)[1]
            for i, step in enumerate(wp.steps)
        ]
        if wp.price is not None:
            lines.append(f"Step {len(lines) + 1}: {seq[len(wp.steps)]} * {wp.price} = {seq[-1]}.")
        return " " + "\n".join([TERSE_HEAD, *lines, f"The answer is: {seq[-1]}"]), str(seq[-1])
    if terse_form == "direct":
        return " " + "\n".join([TERSE_HEAD, f"The answer is: {seq[-1]}"]), str(seq[-1])
    if terse_form != "folded":
        raise ValueError(f"unknown terse form '{terse_form}'; valid: {', '.join(TERSE_FORMS)}")
    equations, chain = [], ""
    for i, step in enumerate(wp.steps):
        if step.op in ("add", "sub", "packs"):
            term = {"add": f"+ {step.k}", "sub": f"- {step.k}", "packs": f"+ {step.k} * {step.m}"}[step.op]
            chain = f"{chain or seq[i]} {term}"
            if i + 1 < len(wp.steps) and wp.steps[i + 1].op in ("add", "sub", "packs"):
                continue  # the run goes on: its result is written once, at its end
            equations.append(f"{chain} = {seq[i + 1]}")
            chain = ""
        else:
            equations.append(f"{seq[i]} {'*' if step.op == 'mul' else '/'} {step.k} = {seq[i + 1]}")
    if wp.price is not None:
        equations.append(f"{seq[len(wp.steps)]} * {wp.price} = {seq[-1]}")
    body = f"{TERSE_HEAD} {'; '.join(equations)}." if equations else f"{TERSE_HEAD} {seq[-1]}."
    return " " + "\n".join([body, f"The answer is: {seq[-1]}"]), str(seq[-1])


def slipped_values(wp: WordProblem, rng: random.Random) -> list[int]:
    """The counts along a solution with one arithmetic slip.

    The slip is carried through the later steps like a real mistake."""
    seq = W.values(wp) or [0]
    position = rng.randrange(len(wp.steps) + (wp.price is not None))
    out = [seq[0]]
    for index, step in enumerate(wp.steps):
        value = out[-1]
        new = step.apply(value)
        new = value // step.k if new is None else new  # an earlier slip made the split inexact
        if index == position:
            new = max(0, new + rng.choice([-2, -1, 1, 2]))
        out.append(new)
    if wp.price is not None:
        out.append(out[-1] * wp.price + (rng.choice([-2, -1, 1, 2]) if position == len(wp.steps) else 0))
    return out


def _slip(
    lines_wp: WordProblem, rng: random.Random, style: str = "decomposed", terse_form: str = "folded"
) -> tuple[str, str]:
    """A solution with one arithmetic slip (see ``slipped_values``)."""
    return styled_solution(lines_wp, slipped_values(lines_wp, rng), style, terse_form)


def gold_values(wp: WordProblem) -> list[int]:
    """Start, the count after each step, then the price total: a consistent problem's exact counts."""
    seq = W.values(wp) or [0]
    return [*seq, seq[-1] * wp.price] if wp.price is not None else seq


def solve_problem(
    text: str,
    rng: random.Random,
    error_rate: float,
    decomposed_share: float = 1.0,
    terse_form: str = "folded",
) -> tuple[str, dict[str, Any]]:
    """A solver's reply to ``text``: the gold solution, a slip, or why it cannot be solved.

    With ``decomposed_share < 1`` each reply picks its style: decomposed with that probability, else terse
    (``styled_solution``); the style lands in the reply's meta.
    """
    wp = W.parse(text)
    if wp is None:
        return "I cannot solve this problem.", {"solved": False}
    if (
        wp.start is None
    ):  # ill-posed: a careful solver says so (guessing would let 3 of 4 guesses agree now and then)
        return (
            f"The problem does not say how many {wp.item} {wp.name} has at the start, "
            "so it cannot be solved.",
            {"solved": False},
        )
    solved = W.solve_text(wp)
    if solved is None:
        return "These numbers contradict each other, so the problem has no answer.", {"solved": False}
    slip = rng.random() < error_rate
    # The clean world (share 1) draws nothing more, so its replies stay exactly what they were.
    style = "decomposed" if decomposed_share >= 1.0 or rng.random() < decomposed_share else "terse"
    if slip:
        text, answer = _slip(wp, rng, style, terse_form)
        return text, {"solved": True, "slip": True, "answer": answer, "style": style}
    if style == "decomposed":
        return solved[0], {"solved": True, "slip": False, "answer": solved[1], "style": style}
    text, answer = styled_solution(wp, gold_values(wp), style, terse_form)
    return text, {"solved": True, "slip": False, "answer": answer, "style": style}


def solution_style(completion: str) -> str:
    """Which style a completion (a model's or the teacher's) is written in, read from its first words."""
    return "terse" if completion.lstrip().startswith(TERSE_HEAD) else "decomposed"
