"""Answer verification: extract the final answer, compare it with the gold answer, check steps.

Public API (gold first, like Math-Verify)::

    verify(gold, response) -> bool            extract the final answer, then compare
    check(gold, response) -> Verdict          the same with .extracted and a .reason
                                              (both take problem=...: "Factor ..." wants a factored answer)
    is_equivalent(gold, answer) -> bool       compare two answers (no extraction on ``answer``)
    extract_answer(text) / extract_boxed(text)
    verify_batch(pairs, workers=4) -> list[bool]     check_batch(...) -> list[Verdict]
    check_steps(solution) -> list[StepVerdict]      split_steps(solution) -> list[str]
    VerifyOptions(...)                         every knob, a frozen dataclass

Conventions (what counts as equal):

- Extraction (``extract``): last ``\\boxed``/``\\fbox`` > "The (final) answer is" / "Final Answer:" >
  ``#### X`` > the math of the final sentence(s) (``spans``) > a bare answer > the last number of
  prose > the words a final sentence ends on. A ``<think>`` block is skipped when an answer follows.
- Numbers are exact: ``1,000`` = ``11,\\!111``-style separators = ``1 000``; ``0.5`` = ``1/2`` =
  ``\\dfrac12``, but ``0.333`` != ``1/3`` and ``3.14`` != ``\\pi`` unless ``rel_tol`` is set.
  ``0.\\overline{3}`` and ``0.333\\ldots`` are 1/3. Mixed numbers: ``2\\frac{1}{2}`` = ``2 1/2`` = ``5/2``.
  Scientific notation (``1.5e3``, ``1.5\\times10^3``), number words (``five``) and full-width digits
  are numbers.
- Percent: ``50\\%`` = ``50``; a stated ``50\\%`` also equals a plain gold ``0.5`` (a probability);
  a gold ``50\\%`` equals the answer ``0.5`` only with ``VerifyOptions(percent=True)``.
- Currency (``\\$``, dollars, cents), degrees (``^\\circ``) and units (``\\text{ cm}``, ``10 cm``,
  ``\\mbox{ inches}^2``) are dropped when one side has none; units on both sides must agree.
- Radicals, pi, e, i, trig and logs compare symbolically: ``\\sqrt8`` = ``2\\sqrt2``; ``e`` is Euler's
  number and ``i`` the imaginary unit. Expressions with variables are equal when their difference
  simplifies to zero (``(x+1)^2`` = ``x^2+2x+1``); variable names matter.
- Equations and relations (``relations``): ``x=3`` = ``3``; ``x = 5+5+1 = 11`` answers 11; two
  equations are equal when one is a nonzero multiple of the other (``y=2x+3`` = ``2x-y+3=0``), an
  inequality when a positive multiple, or a negative one with the relation flipped (``-x>-1`` =
  ``x<1``). One-variable inequalities equal intervals (``1 \\le x < 3`` = ``[1, 3)``) and "or" lists
  of them unions.
- Tuples ``(1,2)`` and vectors/matrices (``pmatrix``, ``bmatrix``, ``array``) are ordered; a column
  vector equals the tuple of its entries. Intervals are bracket-sensitive (``[1,2)`` != ``[1,2]``) and
  unions are unordered. Sets ``\\{..\\}`` are unordered without repeats; bare lists ``1, 2`` ("all
  solutions", also ``x = 1 and x = 2``) are unordered; ``\\pm`` expands into both values.
- Multiple choice: ``(B)`` = ``\\text{(B)}`` = ``B`` = ``option B`` (and ``(B) 12``), not ``(B) and (C)``;
  a letter with its value (``\\textbf{(D)}\\ 17``) also equals the value alone against a value gold.
- Word answers in prose: a final sentence that says what something *is* ("So the party falls on a
  Tuesday.", "No, it is not possible.") answers over the last number of an earlier sentence.
- Unicode math (``12π``, ``x²``, ``−4``, ``½``, ``√2``, ``≤``) reads as the LaTeX it stands for.
- A response that echoes the prompt's placeholder (``The answer is: X``) has no answer.
- Asked to factor (``problem=`` text, or ``VerifyOptions(factored=True)``), an expanded answer is not
  equal to a factored gold. ``docs/verification.md`` tables every such convention.
- Text answers (``\\text{Devon}``, ``even``) compare as lower-cased words; ``\\infty`` = ``infinity``,
  ``\\mathbb{R}`` = ``(-\\infty, \\infty)``.
- ``\\left``/``\\right``, LaTeX spacing, ``$``, ``\\(\\)``, markdown bold, a trailing period and ``x \\in``
  are ignored. Unevaluated calculus (``\\int``, ``\\sum``, ``\\lim``) and code are never equal to a number.

Safety: nothing is ever ``eval``-ed or ``sympify``-ed. Answers go through a whitelist tokenizer and
our own parser (``grammar``), sizes and nesting are bounded before parsing, huge powers are
refused, and sympy runs only in sandboxed worker processes with a hard wall-clock limit
(``sandbox``). Failure of any kind is "not equal" with a reason. Importing this package does not
import sympy (nor torch): plain numbers are decided in-process in microseconds.
"""

from wizardmath.verify.batch import check_batch, verify_batch
from wizardmath.verify.boxed import extract_boxed
from wizardmath.verify.equivalence import check, is_equivalent, verify
from wizardmath.verify.extract import extract_answer
from wizardmath.verify.options import Claim, StepVerdict, Verdict, VerifyOptions
from wizardmath.verify.steps import check_steps, split_steps

__all__ = [
    "Claim",
    "StepVerdict",
    "Verdict",
    "VerifyOptions",
    "check",
    "check_batch",
    "check_steps",
    "extract_answer",
    "extract_boxed",
    "is_equivalent",
    "split_steps",
    "verify",
    "verify_batch",
]
