"""Hard wall-clock limits for sympy: every symbolic comparison runs in a shared ``WorkerPool``.

The pool (``wizardmath.workers``) keeps killable subprocess workers that have imported sympy; a
comparison that overruns ``options.timeout`` is killed, its worker replaced, and the pair is "not
equal" with a ``timeout`` reason. Each worker caps its address space, so a memory bomb fails inside
it. Inside such a worker (``in_capped_worker()``) the symbolic path runs inline:
the parent already bounds it.
"""

from __future__ import annotations

from collections.abc import Sequence

from wizardmath.verify.options import VerifyOptions
from wizardmath.workers import WorkerPool, in_capped_worker

MEMORY_LIMIT_BYTES = 4 << 30
SYMBOLIC_JOB = "wizardmath.verify.sandbox:symbolic_compare"

POOL = WorkerPool(
    workers=2, timeout=2.0, memory_limit=MEMORY_LIMIT_BYTES, preload=["wizardmath.verify.symbolic"]
)
"""The verifier's shared workers: ``check``, ``check_batch`` and the reward's verifier all reuse them."""


def symbolic_compare(gold: str, answer: str, options: VerifyOptions) -> tuple[bool, str]:
    """The sympy comparison of two extracted answers (runs inside a worker); never raises."""
    from wizardmath.verify.compare import compare_strings
    from wizardmath.verify.symbolic import sympy_scalar

    try:
        scalar = sympy_scalar(options.max_power_bits, options.rel_tol)
        verdict, reason = compare_strings(gold, answer, options, scalar)
    except MemoryError:
        return False, "refused: out of memory"
    except Exception as err:  # whatever sympy raised: a reason, not a crash
        return False, f"symbolic error: {type(err).__name__}: {str(err)[:200]}"
    return bool(verdict), reason if verdict is not None else "undecided"


def warm_up() -> None:
    """Boot the pool's workers now (about a second, once) so the first symbolic comparisons are not slowed."""
    POOL.warm_up()


def run_symbolic_many(
    pairs: Sequence[tuple[str, str]], options: VerifyOptions, timeout: float | None = None, workers: int = 1
) -> list[tuple[bool, str]]:
    """``(equal, reason)`` per ``(gold_answer, answer)`` pair, on up to ``workers`` shared workers at once,
    each pair under ``timeout`` seconds (default ``options.timeout``); never raises or hangs."""
    if in_capped_worker():
        return [symbolic_compare(gold, answer, options) for gold, answer in pairs]
    limit = options.timeout if timeout is None else timeout
    outcomes = POOL.run([(SYMBOLIC_JOB, (gold, answer, options)) for gold, answer in pairs], limit, workers)
    return [outcome.value if outcome.ok else (False, outcome.error) for outcome in outcomes]


def run_symbolic(gold: str, answer: str, options: VerifyOptions) -> tuple[bool, str]:
    """Compare with sympy under ``options.timeout`` seconds of wall clock; never raises or hangs."""
    return run_symbolic_many([(gold, answer)], options)[0]
