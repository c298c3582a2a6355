"""Composable rewards for PPO and GRPO, chosen by name in YAML.

Every reward is a plain callable with TRL's reward-function contract::

    reward(completions: list[str], **columns) -> list[float | None]     # None: "not applicable"

so the same functions drive ``wizardmath ppo`` and TRL's ``GRPOTrainer`` (``wizardmath grpo``).
``columns`` are the data set's columns, one value per completion (``answer``, ``problem``, ``id``...).

Built-in terms (``REWARDS``):

==============  ==========================================================================
``verifier``    1 if the final answer equals the gold ``answer`` (``wizardmath.verify``), else 0;
                None when the gold answer is unknown
``format``      1 if the response states its result as "The answer is: X", else 0
``irm``         Instruction Reward Model score of the *problem*, squashed by a sigmoid to [0, 1]
``prm``         Process Reward Model score of the solution's steps, aggregated (default: min)
``arithmetic``  share of the response's checkable arithmetic claims that hold (``check_steps``);
                None when it makes none. Needs no gold answer
``random``      a fair coin (0 or 1, seeded): the control run that must not gain
==============  ==========================================================================

Any ``"package.module:function"`` with the same contract is a term too. Terms are combined by
``reward_combine`` (``COMBINERS``): ``product`` (the paper's r = r_IRM x r_PRM, x the verifier when
listed), ``weighted_sum`` (``reward_weights``) or ``verifier_gated`` (the product of the other terms
for a correct answer, ``reward_on_wrong`` for a wrong one).

Step rewards (``STEP_REWARDS``, PPO only: TRL's GRPO has no per-token rewards) are dense terms that
say *where* a response went wrong, as ``(character offset, reward)`` events; PPO puts each on the
token holding that character, so GAE credits the mistake, not the whole response:

==============  ==========================================================================
``arithmetic``  -1 at the end of every arithmetic claim ``check_steps`` finds false
                (``20 - 7 = 11``); needs no gold answer
==============  ==========================================================================

Safety: a reward must never block or crash training. User terms run per sample in reused worker
processes (``wizardmath.workers.WorkerPool``, shipped there with ``dill`` so closures work) under a
hard wall-clock limit; a sample that hangs is killed and scores 0, one that raises scores 0, and
the worker is replaced. The verifier already runs sympy in the same kind of killable workers
(``verify_batch``), the IRM/PRM are neural nets run in-process in batches, and ``format`` /
``arithmetic`` are a regex and size-bounded exact arithmetic, so the built-in terms skip the pool;
any exception they raise zeroes that term for the batch, never the run.
"""

from __future__ import annotations

import functools
import importlib
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reward_models.stepwise import AGGREGATES
from wizardmath.reward_terms import (
    IRMReward,
    PRMReward,
    RandomReward,
    StepEvents,
    VerifierReward,
    arithmetic_reward,
    arithmetic_step_rewards,
    format_reward,
    load_reward_model,
)
from wizardmath.workers import WorkerPool

RewardFunc = Callable[..., list[float | None]]
Factory = Callable[["RewardArguments"], RewardFunc]


# ----------------------------------------------------------------------------- config fields


@dataclass
class RewardArguments:
    """Reward settings shared by ``PPOConfig`` and ``GRPOConfig`` (both inherit these fields)."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["verifier"],
        metadata={
            "help": "Reward terms by name (verifier, format, irm, prm) or 'module:function' of your own."
        },
    )
    reward_combine: str = field(
        default="product",
        metadata={
            "help": "How terms combine: product (the paper's IRM x PRM), weighted_sum, verifier_gated."
        },
    )
    irm_path: str | None = field(
        default=None, metadata={"help": "Instruction Reward Model folder (for the irm term)."}
    )
    prm_path: str | None = field(
        default=None, metadata={"help": "Process Reward Model folder (for the prm term)."}
    )
    prm_aggregate: str = field(
        default="min",
        metadata={"help": "How step scores become one PRM reward: min (paper), prod, last, mean."},
    )
    reward_on_wrong: float = field(
        default=0.0, metadata={"help": "verifier_gated: the reward of a response whose answer is wrong."}
    )
    reward_timeout: float = field(
        default=10.0,
        metadata={"help": "Hard wall-clock seconds per sample for a reward term; overruns score 0."},
    )
    reward_workers: int = field(
        default=2, metadata={"help": "Worker processes that compute isolated reward terms."}
    )

    def validate_rewards(self, weights: Sequence[float] | None) -> None:
        """Called from the configs' ``__post_init__``: fail at parse time, not mid-training."""
        if not self.reward_funcs:
            raise ValueError(f"reward_funcs is empty; list at least one of {', '.join(REWARDS)}")
        for name in self.reward_funcs:
            if name not in REWARDS and ":" not in name:
                raise ValueError(
                    f"unknown reward '{name}'; valid: {', '.join(REWARDS)}, or 'module:function'"
                )
        if self.reward_combine not in COMBINERS:
            raise ValueError(f"unknown reward_combine '{self.reward_combine}'; valid: {', '.join(COMBINERS)}")
        if weights is not None:
            if self.reward_combine != "weighted_sum":
                raise ValueError(
                    "reward_weights only apply with reward_combine: weighted_sum; remove them or switch"
                )
            if len(weights) != len(self.reward_funcs):
                raise ValueError(
                    f"reward_weights has {len(weights)} values for {len(self.reward_funcs)} reward_funcs"
                )
        if self.reward_combine == "verifier_gated" and "verifier" not in self.reward_funcs:
            raise ValueError("reward_combine: verifier_gated needs 'verifier' in reward_funcs")
        if "irm" in self.reward_funcs and not self.irm_path:
            raise ValueError("reward 'irm' needs irm_path (a folder written by 'wizardmath train-irm')")
        if "prm" in self.reward_funcs and not self.prm_path:
            raise ValueError("reward 'prm' needs prm_path (a folder written by 'wizardmath train-prm')")
        if self.prm_aggregate not in AGGREGATES:
            raise ValueError(f"unknown prm_aggregate '{self.prm_aggregate}'; valid: {', '.join(AGGREGATES)}")
        if self.reward_timeout <= 0 or self.reward_workers < 1:
            raise ValueError("reward_timeout must be > 0 and reward_workers >= 1")


STEP_REWARDS: dict[str, Callable[..., list[StepEvents]]] = {"arithmetic": arithmetic_step_rewards}


@dataclass(frozen=True)
class RewardSpec:
    """A registry entry: how to build the term from the config, and whether to isolate it per sample."""

    build: Factory
    isolate: bool
    help: str


REWARDS: dict[str, RewardSpec] = {
    "verifier": RewardSpec(
        lambda a: VerifierReward(a.reward_workers, a.reward_timeout), False, "gold answer match"
    ),
    "format": RewardSpec(lambda a: format_reward, False, 'has "The answer is: X"'),
    "arithmetic": RewardSpec(lambda a: arithmetic_reward, False, "share of arithmetic claims that hold"),
    "irm": RewardSpec(
        lambda a: IRMReward(load_reward_model("irm", a.irm_path)), False, "IRM(problem) in [0, 1]"
    ),
    "prm": RewardSpec(
        lambda a: PRMReward(load_reward_model("prm", a.prm_path), a.prm_aggregate), False, "PRM step scores"
    ),
    "random": RewardSpec(lambda a: RandomReward(getattr(a, "seed", 0)), False, "a fair coin (control)"),
}


def register_reward(name: str, func: RewardFunc, isolate: bool = True, help: str = "") -> None:
    """Add a term usable by name in ``reward_funcs``; ``isolate`` runs it per sample under the time limit."""
    REWARDS[name] = RewardSpec(lambda _args: func, isolate, help)


def _import_reward(spec: str) -> RewardFunc:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward '{spec}': cannot import {name} from {module} ({err})") from err


# ----------------------------------------------------------------------------- isolation


def score_one_sample(func: RewardFunc, completion: Any, columns: dict[str, Any]) -> float | None:
    """An isolated term on one sample (runs inside a worker): the batch contract with batches of one."""
    value = func([completion], **{k: [v] for k, v in columns.items()})[0]
    return None if value is None else float(value)


# ----------------------------------------------------------------------------- combination


def _values(column: list[float | None], n: int) -> list[float | None]:
    return column if column else [None] * n


def combine_product(
    parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float
) -> list[float | None]:
    """Product of the applicable terms (None terms are skipped); None when no term applies."""
    n = len(next(iter(parts.values())))
    out: list[float | None] = []
    for i in range(n):
        values = [col[i] for col in parts.values() if col[i] is not None]
        out.append(math.prod(values) if values else None)
    return out


def combine_weighted_sum(
    parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float
) -> list[float | None]:
    """Sum of weight x term over the applicable terms (weights default to 1)."""
    n = len(next(iter(parts.values())))
    out: list[float | None] = []
    for i in range(n):
        values = [weights.get(name, 1.0) * col[i] for name, col in parts.items() if col[i] is not None]
        out.append(sum(values) if values else None)
    return out


def combine_verifier_gated(
    parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float
) -> list[float | None]:
    """Wrong answer: ``on_wrong``; otherwise the product of the other terms (1 when there are none).

    Reward models then rank *correct* solutions, and cannot be gamed by a fluent wrong one.
    """
    others = {k: v for k, v in parts.items() if k != "verifier"}
    rest = combine_product(others, weights, on_wrong) if others else [1.0] * len(parts["verifier"])
    return [
        on_wrong if ok == 0.0 else (1.0 if r is None else r)
        for ok, r in zip(parts["verifier"], rest, strict=True)
    ]


COMBINERS: dict[str, Callable[..., list[float | None]]] = {
    "product": combine_product,
    "weighted_sum": combine_weighted_sum,
    "verifier_gated": combine_verifier_gated,
}


# ----------------------------------------------------------------------------- the reward


class SafeReward:
    """One term that never raises: isolated terms go through the pool, others are called in batch."""

    def __init__(self, name: str, func: RewardFunc, pool: WorkerPool | None = None):
        self.__name__, self.func, self.pool = name, func, pool
        self.job = functools.partial(score_one_sample, func)  # one object: shipped to each worker once
        self.errors: list[str] = []

    def __call__(self, completions: list[Any], **columns: Any) -> list[float | None]:
        n = len(completions)
        self.errors = []
        if self.pool is not None:
            per_sample = [{k: v[i] for k, v in columns.items() if _is_column(v, n)} for i in range(n)]
            outcomes = self.pool.run([(self.job, (completions[i], per_sample[i])) for i in range(n)])
            self.errors = [o.error for o in outcomes if not o.ok]
            return [o.value if o.ok else 0.0 for o in outcomes]
        try:
            values = list(self.func(completions, **columns))
            if len(values) != n:
                raise ValueError(f"returned {len(values)} values for {n} completions")
        except Exception as err:  # noqa: BLE001 (a broken term must not stop training)
            self.errors = [f"{type(err).__name__}: {err}"] * n
            warnings.warn(f"reward '{self.__name__}' failed on a batch, scoring it 0: {err}", stacklevel=2)
            return [0.0] * n
        return [None if v is None else (0.0 if not math.isfinite(float(v)) else float(v)) for v in values]


def _is_column(value: Any, n: int) -> bool:
    return isinstance(value, list | tuple) and len(value) == n


@dataclass
class RewardResult:
    """One batch's reward: the combined ``scores``, each term's values (``per_term``, by term name) and
    how many samples each term zeroed because it hung or raised (``errors``)."""

    scores: list[float | None]
    per_term: dict[str, list[float | None]]
    errors: dict[str, int]


class CombinedReward:
    """The configured reward: every term, then the combination.

    ``score`` returns the whole ``RewardResult`` (what PPO logs and filters on); calling the reward is
    TRL's contract (GRPO), the scores alone, with that call's record kept in ``last`` (``last_terms``,
    ``last_errors``).
    """

    def __init__(
        self,
        terms: list[SafeReward],
        combine: str,
        weights: Sequence[float] | None,
        on_wrong: float,
        pool: WorkerPool | None,
    ):
        self.terms, self.combine, self.on_wrong, self.pool = terms, combine, on_wrong, pool
        self.weights = dict(zip([t.__name__ for t in terms], weights or [1.0] * len(terms), strict=True))
        self.__name__ = f"reward_{combine}"
        self.last = RewardResult([], {}, {})

    def score(self, completions: list[Any], **columns: Any) -> RewardResult:
        parts = {t.__name__: _values(t(completions, **columns), len(completions)) for t in self.terms}
        errors = {t.__name__: len(t.errors) for t in self.terms}
        return RewardResult(COMBINERS[self.combine](parts, self.weights, self.on_wrong), parts, errors)

    def __call__(self, completions: list[Any], **columns: Any) -> list[float | None]:
        self.last = self.score(completions, **columns)
        return self.last.scores

    @property
    def last_terms(self) -> dict[str, list[float | None]]:
        return self.last.per_term

    @property
    def last_errors(self) -> dict[str, int]:
        return self.last.errors

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def build_reward(args: RewardArguments, weights: Sequence[float] | None = None) -> CombinedReward:
    """The reward of a PPO/GRPO config: terms by name, isolated where asked, combined."""
    args.validate_rewards(weights)
    funcs: list[tuple[str, RewardFunc, bool]] = []
    for name in args.reward_funcs:
        if name in REWARDS:
            funcs.append((name, REWARDS[name].build(args), REWARDS[name].isolate))
        else:
            funcs.append((name.rpartition(":")[2], _import_reward(name), True))
    isolated = any(iso for _, _, iso in funcs)
    pool = WorkerPool(args.reward_workers, args.reward_timeout) if isolated else None
    terms = [SafeReward(name, func, pool if iso else None) for name, func, iso in funcs]
    return CombinedReward(terms, args.reward_combine, weights, args.reward_on_wrong, pool)
