"""Options and result records of the verifier: frozen dataclasses, so a run's settings cannot drift.

``VerifyOptions`` holds every knob (extraction fallbacks, size bounds, the symbolic time limit);
``Verdict`` and ``StepVerdict`` are what the checks return. They live apart from the logic so that
worker processes and the CLI can import them without pulling in the parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VerifyOptions:
    """How answers are extracted and compared. The defaults are what the graders in this repo use."""

    number_fallback: bool = True
    """When a response has no ``\\boxed{}``, "The answer is" or ``####`` marker and is not itself a
    bare answer, take its last number (GSM8k graders do this; set False to demand a marker)."""

    percent: bool = False
    """``50%`` always equals ``50``, and a stated percent also equals its fraction against a plain gold
    (``50%`` for a probability of ``0.5``). With True a percent gold also equals a plain fraction
    (gold ``50\\%``, answer ``0.5``); off by default: a model answering 0.5 for "what percent" is
    wrong. Read by ``compare.compare_strings`` for every scalar, inside tuples and sets too,
    in-process and in the sympy worker."""

    rel_tol: float = 0.0
    """Relative tolerance for numbers: 0 compares exactly (``0.333`` != ``1/3``); e.g. ``1e-2``
    accepts a rounded decimal for an exact fraction, ``\\pi`` expression or radical."""

    factored: bool = False
    """Require a factored answer when the gold is factored: ``x^2 - 1`` is then not ``(x+1)(x-1)``
    (a grader marks an expanded polynomial wrong when the problem asks to factor). ``check`` and
    ``verify`` turn it on from their ``problem`` text ("Factor ...", "in factored form")."""

    units: bool = True
    """Drop ``\\text{ cm}``-style units (and currency, degrees) before comparing; a unit on both
    sides must agree."""

    symbolic: bool = True
    """Use sympy (in a sandboxed worker process) when the exact-rational fast path cannot decide.
    False: such pairs are "not equal" with reason ``symbolic disabled``."""

    timeout: float = 2.0
    """Hard wall-clock seconds for one symbolic comparison; the worker is killed on overrun."""

    max_response_chars: int = 200_000
    """Only the last this-many characters of a response are searched for the final answer."""

    max_answer_chars: int = 1_000
    """Longer extracted answers are refused ("not equal") before any parsing."""

    max_depth: int = 60
    """Deepest bracket nesting the parser accepts; deeper input is refused, never recursed into."""

    max_power_bits: int = 20_000
    """Largest exact integer (in bits) a power or factorial may produce: ``9**9**9**9`` is refused."""


DEFAULT_OPTIONS = VerifyOptions()


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing one gold answer with one response."""

    equal: bool
    extracted: str | None
    reason: str

    def __bool__(self) -> bool:  # lets ``if check(g, r):`` read naturally
        return self.equal


@dataclass(frozen=True)
class Claim:
    """One arithmetic statement found in a step, e.g. ``12 * 3 = 36``, and whether it holds."""

    text: str
    start: int
    end: int
    verdict: str
    reason: str = ""


@dataclass(frozen=True)
class StepVerdict:
    """The verdict on one solution step: ``correct`` (every claim checks), ``wrong`` (some claim is
    false) or ``unknown`` (nothing checkable). ``start``/``end`` index the step in the solution."""

    index: int
    text: str
    start: int
    end: int
    verdict: str
    claims: tuple[Claim, ...] = field(default_factory=tuple)
