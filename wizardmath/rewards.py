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

Safety: a reward must never block or crash training. User terms run per sample in worker processes
(``RewardPool``) under a hard wall-clock limit; a sample that hangs is killed and scores 0, one
that raises scores 0, and the worker is replaced. The verifier already runs sympy in killable
sandbox processes (``verify_batch``), the IRM/PRM are neural nets run in-process in batches, and
``format``/``arithmetic`` are a regex and size-bounded exact arithmetic, so the built-in terms skip
the pool; any exception they raise zeroes that term for the batch, never the run.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

RewardFunc = Callable[..., list[float | None]]
Factory = Callable[["RewardArguments"], RewardFunc]


# ----------------------------------------------------------------------------- config fields


@dataclass
class RewardArguments:
    """Reward settings shared by ``PPOConfig`` and ``GRPOConfig`` (both inherit these fields)."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["verifier"],
        metadata={"help": "Reward terms by name (verifier, format, irm, prm) or 'module:function' of your own."},
    )
    reward_combine: str = field(
        default="product",
        metadata={"help": "How terms combine: product (the paper's IRM x PRM), weighted_sum, verifier_gated."},
    )
    irm_path: str | None = field(default=None, metadata={"help": "Instruction Reward Model folder (for the irm term)."})
    prm_path: str | None = field(default=None, metadata={"help": "Process Reward Model folder (for the prm term)."})
    prm_aggregate: str = field(
        default="min", metadata={"help": "How step scores become one PRM reward: min (paper), prod, last, mean."}
    )
    reward_on_wrong: float = field(
        default=0.0, metadata={"help": "verifier_gated: the reward of a response whose answer is wrong."}
    )
    reward_timeout: float = field(
        default=10.0, metadata={"help": "Hard wall-clock seconds per sample for a reward term; overruns score 0."}
    )
    reward_workers: int = field(default=2, metadata={"help": "Worker processes that compute isolated reward terms."})

    def validate_rewards(self, weights: Sequence[float] | None) -> None:
        """Called from the configs' ``__post_init__``: fail at parse time, not mid-training."""
        if not self.reward_funcs:
            raise ValueError(f"reward_funcs is empty; list at least one of {', '.join(REWARDS)}")
        for name in self.reward_funcs:
            if name not in REWARDS and ":" not in name:
                raise ValueError(f"unknown reward '{name}'; valid: {', '.join(REWARDS)}, or 'module:function'")
        if self.reward_combine not in COMBINERS:
            raise ValueError(f"unknown reward_combine '{self.reward_combine}'; valid: {', '.join(COMBINERS)}")
        if weights is not None:
            if self.reward_combine != "weighted_sum":
                raise ValueError("reward_weights only apply with reward_combine: weighted_sum; remove them or switch")
            if len(weights) != len(self.reward_funcs):
                raise ValueError(f"reward_weights has {len(weights)} values for {len(self.reward_funcs)} reward_funcs")
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


# ----------------------------------------------------------------------------- built-in terms


def completion_text(completion: Any) -> str:
    """TRL passes plain strings, or message lists for conversational data: take the last content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def format_reward(completions: list[Any], **_: Any) -> list[float | None]:
    """1.0 when the response ends its reasoning with "The answer is: X" (X non-empty), else 0.0."""
    import re

    pattern = re.compile(r"The answer is:[ \t]*\S")
    return [1.0 if pattern.search(completion_text(c)) else 0.0 for c in completions]


class RandomReward:
    """0 or 1 at random, blind to the response: RL on it must not gain (the control of a PPO result)."""

    def __init__(self, seed: int = 0):
        import random

        self.rng = random.Random(f"random-reward-{seed}")

    def __call__(self, completions: list[Any], **_: Any) -> list[float | None]:
        return [float(self.rng.random() < 0.5) for _ in completions]


class VerifierReward:
    """Correctness against the gold ``answer`` column; sympy runs in killable sandbox workers."""

    __name__ = "verifier"

    def __init__(self, workers: int = 1, timeout: float = 10.0):
        self.workers, self.timeout = workers, timeout

    def __call__(self, completions: list[Any], answer: Sequence[Any] | None = None, **_: Any) -> list[float | None]:
        from wizardmath.verify import verify_batch

        if answer is None:
            return [None] * len(completions)
        known = [i for i, gold in enumerate(answer) if gold not in (None, "")]
        pairs = [(str(answer[i]), completion_text(completions[i])) for i in known]
        verdicts = verify_batch(pairs, workers=self.workers, timeout=self.timeout) if pairs else []
        out: list[float | None] = [None] * len(completions)
        for i, ok in zip(known, verdicts, strict=True):
            out[i] = 1.0 if ok else 0.0
        return out


def _problems(n: int, problem: Sequence[str] | None, prompts: Sequence[Any] | None) -> list[str]:
    source = problem if problem is not None else prompts
    if source is None:
        raise ValueError("this reward needs a 'problem' (or 'prompts') column")
    return [completion_text(p) for p in source][:n]


def _load_reward_model(kind: str, path: str) -> Any:
    """``reward_models``' IRM or PRM class, imported on use (reward models need torch)."""
    module, cls = {"irm": ("reward_models.irm", "InstructionRewardModel"), "prm": ("reward_models.prm", "ProcessRewardModel")}[kind]
    return getattr(importlib.import_module(module), cls).from_pretrained(path)


class IRMReward:
    """sigmoid(IRM score) of each completion's problem; problems repeat (n samples), so scores are cached."""

    __name__ = "irm"

    def __init__(self, model: Any):
        self.model, self.cache = model, {}

    def __call__(self, completions: list[Any], problem=None, prompts=None, **_: Any) -> list[float | None]:
        texts = _problems(len(completions), problem, prompts)
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            for text, score in zip(new, self.model.score(new), strict=True):
                self.cache[text] = 1 / (1 + math.exp(-float(score)))
        return [self.cache[t] for t in texts]


AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "prod": math.prod,
    "last": lambda scores: scores[-1],
    "mean": lambda scores: sum(scores) / len(scores),
}


class PRMReward:
    """The PRM's step scores of the solution, aggregated (``min`` in the paper); no steps -> 0.

    Uses the model's batched ``score_solutions`` when it has one (``reward_models.prm`` does).
    """

    __name__ = "prm"

    def __init__(self, model: Any, aggregate: str = "min"):
        self.model, self.how, self.aggregate = model, aggregate, AGGREGATES[aggregate]

    def __call__(self, completions: list[Any], problem=None, prompts=None, **_: Any) -> list[float | None]:
        texts = _problems(len(completions), problem, prompts)
        solutions = [completion_text(c) for c in completions]
        if hasattr(self.model, "score_solutions"):
            return [float(s) for s in self.model.score_solutions(texts, solutions, self.how)]
        from wizardmath.verify import split_steps

        out: list[float | None] = []
        for text, solution in zip(texts, solutions, strict=True):
            steps = split_steps(solution)
            scores = self.model.score_steps(text, steps) if steps else []
            out.append(float(self.aggregate([float(s) for s in scores])) if scores else 0.0)
        return out


def _claims(completion: Any) -> list[Any]:
    from wizardmath.verify import check_steps

    try:
        return [c for step in check_steps(completion_text(completion)) for c in step.claims]
    except Exception:  # noqa: BLE001 (unreadable text makes no claims; a reward must not raise)
        return []


def arithmetic_reward(completions: list[Any], **_: Any) -> list[float | None]:
    """Share of the checkable arithmetic claims that hold; None for a response with none.

    ``check_steps`` does exact rational arithmetic under size limits (no sympy, no eval), so it is
    safe on untrusted text and needs no worker process.
    """
    out: list[float | None] = []
    for completion in completions:
        checked = [c.verdict for c in _claims(completion) if c.verdict in ("correct", "wrong")]
        out.append(checked.count("correct") / len(checked) if checked else None)
    return out


StepEvents = list[tuple[int, float]]  # (character offset into the response, reward there)


def arithmetic_step_rewards(completions: list[Any], **_: Any) -> list[StepEvents]:
    """-1 at the last character of each arithmetic claim the verifier finds false (see ``arithmetic_reward``)."""
    return [[(c.end, -1.0) for c in _claims(completion) if c.verdict == "wrong"] for completion in completions]


STEP_REWARDS: dict[str, Callable[..., list[StepEvents]]] = {"arithmetic": arithmetic_step_rewards}


@dataclass(frozen=True)
class RewardSpec:
    """A registry entry: how to build the term from the config, and whether to isolate it per sample."""

    build: Factory
    isolate: bool
    help: str


REWARDS: dict[str, RewardSpec] = {
    "verifier": RewardSpec(lambda a: VerifierReward(a.reward_workers, a.reward_timeout), False, "gold answer match"),
    "format": RewardSpec(lambda a: format_reward, False, 'has "The answer is: X"'),
    "arithmetic": RewardSpec(lambda a: arithmetic_reward, False, "share of arithmetic claims that hold"),
    "irm": RewardSpec(lambda a: IRMReward(_load_reward_model("irm", a.irm_path)), False, "IRM(problem) in [0, 1]"),
    "prm": RewardSpec(
        lambda a: PRMReward(_load_reward_model("prm", a.prm_path), a.prm_aggregate), False, "PRM step scores"
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


def _worker_main(conn: Connection, funcs: list[RewardFunc]) -> None:
    """Score one sample per message; exceptions go back as text so the parent can zero that sample."""
    while True:
        message = conn.recv()
        if message is None:
            return
        job, index, completion, columns = message
        try:
            value = funcs[index]([completion], **{k: [v] for k, v in columns.items()})[0]
            conn.send((job, None if value is None else float(value), None))
        except BaseException as err:  # noqa: BLE001 (report anything, keep serving)
            conn.send((job, None, f"{type(err).__name__}: {err}"))


class RewardPool:
    """Worker processes that run reward functions one sample at a time under a hard deadline.

    Workers are forked (where the OS can), so closures and functions defined anywhere work; an
    overrunning or crashed worker is killed and replaced, and its sample reads ``(None, reason)``.
    """

    def __init__(self, funcs: list[RewardFunc], workers: int = 2, timeout: float = 10.0):
        self.funcs, self.size, self.timeout = funcs, workers, timeout
        methods = multiprocessing.get_all_start_methods()
        self.ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.workers: list[tuple[Any, Connection] | None] = [None] * workers

    def _start(self, slot: int) -> tuple[Any, Connection]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, self.funcs), daemon=True, name=f"reward-{slot}")
        proc.start()
        child.close()
        self.workers[slot] = (proc, parent)
        return proc, parent

    def _kill(self, slot: int) -> None:
        entry, self.workers[slot] = self.workers[slot], None
        if entry is not None:
            entry[0].kill()
            entry[0].join(timeout=5)
            entry[1].close()

    def run(self, jobs: list[tuple[int, Any, dict[str, Any]]]) -> list[tuple[float | None, str | None]]:
        """``jobs`` are ``(func_index, completion, columns_of_one_sample)``; results come back in order."""
        results: list[tuple[float | None, str | None]] = [(None, "lost")] * len(jobs)
        queue = list(range(len(jobs)))[::-1]
        busy: dict[int, tuple[int, float]] = {}  # slot -> (job, deadline)
        while queue or busy:
            for slot in range(self.size):
                if slot not in busy and queue:
                    job = queue.pop()
                    proc, conn = self.workers[slot] or self._start(slot)
                    try:
                        conn.send((job, *jobs[job]))
                    except (OSError, ValueError) as err:  # broken pipe or unpicklable sample
                        results[job] = (None, f"send failed: {err}")
                        self._kill(slot)
                        continue
                    busy[slot] = (job, time.monotonic() + self.timeout)
            if not busy:
                continue
            soonest = min(deadline for _, deadline in busy.values())
            conns = {self.workers[slot][1]: slot for slot in busy}
            ready = wait(list(conns), timeout=max(0.0, soonest - time.monotonic()))
            for conn in ready:
                slot = conns[conn]
                job, _ = busy.pop(slot)
                try:
                    _, value, error = conn.recv()
                    results[job] = (value, error)
                except (EOFError, OSError):
                    results[job] = (None, "worker crashed")
                    self._kill(slot)
            now = time.monotonic()
            for slot, (job, deadline) in list(busy.items()):
                if now >= deadline:
                    results[job] = (None, f"timeout: over {self.timeout:g}s")
                    busy.pop(slot)
                    self._kill(slot)
        return results

    def close(self) -> None:
        for slot in range(self.size):
            self._kill(slot)


# ----------------------------------------------------------------------------- combination


def _values(column: list[float | None], n: int) -> list[float | None]:
    return column if column else [None] * n


def combine_product(parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float) -> list[float | None]:
    """Product of the applicable terms (None terms are skipped); None when no term applies."""
    n = len(next(iter(parts.values())))
    out: list[float | None] = []
    for i in range(n):
        values = [col[i] for col in parts.values() if col[i] is not None]
        out.append(math.prod(values) if values else None)
    return out


def combine_weighted_sum(parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float) -> list[float | None]:
    """Sum of weight x term over the applicable terms (weights default to 1)."""
    n = len(next(iter(parts.values())))
    out: list[float | None] = []
    for i in range(n):
        values = [weights.get(name, 1.0) * col[i] for name, col in parts.items() if col[i] is not None]
        out.append(sum(values) if values else None)
    return out


def combine_verifier_gated(parts: dict[str, list[float | None]], weights: dict[str, float], on_wrong: float) -> list[float | None]:
    """Wrong answer: ``on_wrong``; otherwise the product of the other terms (1 when there are none).

    Reward models then rank *correct* solutions, and cannot be gamed by a fluent wrong one.
    """
    others = {k: v for k, v in parts.items() if k != "verifier"}
    rest = combine_product(others, weights, on_wrong) if others else [1.0] * len(parts["verifier"])
    return [on_wrong if ok == 0.0 else (1.0 if r is None else r) for ok, r in zip(parts["verifier"], rest, strict=True)]


COMBINERS: dict[str, Callable[..., list[float | None]]] = {
    "product": combine_product,
    "weighted_sum": combine_weighted_sum,
    "verifier_gated": combine_verifier_gated,
}


# ----------------------------------------------------------------------------- the reward


class SafeReward:
    """One term that never raises: isolated terms go through the pool, others are called in batch."""

    def __init__(self, name: str, func: RewardFunc, pool: RewardPool | None, index: int):
        self.__name__, self.func, self.pool, self.index = name, func, pool, index
        self.errors: list[str] = []

    def __call__(self, completions: list[Any], **columns: Any) -> list[float | None]:
        n = len(completions)
        self.errors = []
        if self.pool is not None:
            per_sample = [{k: v[i] for k, v in columns.items() if _is_column(v, n)} for i in range(n)]
            results = self.pool.run([(self.index, completions[i], per_sample[i]) for i in range(n)])
            self.errors = [e for _, e in results if e]
            return [0.0 if e else v for v, e in results]
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


class CombinedReward:
    """The configured reward: every term, then the combination. TRL-compatible callable.

    After each call ``last_terms`` holds each term's values and ``last_errors`` how many samples
    a term zeroed because it hung or raised (the trainers log both).
    """

    def __init__(self, terms: list[SafeReward], combine: str, weights: Sequence[float] | None, on_wrong: float, pool):
        self.terms, self.combine, self.on_wrong, self.pool = terms, combine, on_wrong, pool
        self.weights = dict(zip([t.__name__ for t in terms], weights or [1.0] * len(terms), strict=True))
        self.__name__ = f"reward_{combine}"
        self.last_terms: dict[str, list[float | None]] = {}
        self.last_errors: dict[str, int] = {}

    def __call__(self, completions: list[Any], **columns: Any) -> list[float | None]:
        parts = {t.__name__: _values(t(completions, **columns), len(completions)) for t in self.terms}
        self.last_terms = parts
        self.last_errors = {t.__name__: len(t.errors) for t in self.terms}
        return COMBINERS[self.combine](parts, self.weights, self.on_wrong)

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
    isolated = [f for _, f, iso in funcs if iso]
    pool = RewardPool(isolated, args.reward_workers, args.reward_timeout) if isolated else None
    terms, index = [], 0
    for name, func, iso in funcs:
        terms.append(SafeReward(name, func, pool if iso else None, index))
        index += iso
    return CombinedReward(terms, args.reward_combine, weights, args.reward_on_wrong, pool)
