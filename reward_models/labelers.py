"""Step labels for the PRM: three labellers behind one interface, importers, and an agreement filter.

``wizardmath label-prm`` samples solutions from a policy (or reads them), labels every step and
appends TRL stepwise records (see ``reward_models.stepwise``) to ``--output``. A killed run started
again with the same command skips the ids already written.

Labellers (``LABELERS``, chosen with ``--labeler``); a label says "still on a correct path after
this step", so once a step is wrong every later step is wrong too:

- ``rule``: the verifier's ``check_steps`` (arithmetic claims per step) plus final-answer
  correctness. Steps before the first wrong claim are correct; from it on, wrong. With no wrong
  claim: all correct if the answer is right; if it is wrong, the error is somewhere we cannot see,
  so only the last step gets a label (wrong) and earlier ones none (``null``).
- ``mc``: Monte-Carlo completion as in Math-Shepherd: from each step's prefix the policy samples
  ``mc_rollouts`` continuations; the soft label is the fraction that reach the gold answer, the hard
  label is "any" (Math-Shepherd's hard estimate) or "majority". All rollouts go through the
  backend in large batches.
- ``judge``: an LLM rates each step through any backend with the rubric in ``prompts/prm_judge.txt``.

``--import_format prm800k|math-shepherd|stepwise`` converts existing data instead. ``--agree_with``
runs a second labeller and keeps each solution's steps up to the first step where the two disagree
(or either has no label); the agreement rate goes to ``<output>.stats.json``.
"""

from __future__ import annotations

import functools
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardmath.args import BackendArguments, JudgeArguments, check_limit, default_output
from wizardmath.backends import Backend, SamplingParams
from wizardmath.data import chat_messages, format_prompt

PROMPTS = Path(__file__).parent / "prompts"  # judge rubrics: data, not code

Labels = list[bool | None]


@dataclass
class Solution:
    """One solution to label: its problem, gold answer and steps (as ``split_steps`` cuts them)."""

    id: str
    problem: str
    answer: str | None
    steps: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.steps)


@dataclass
class StepLabels:
    labels: Labels
    soft: list[float | None] | None = None
    backend_error: str | None = (
        None  # a failed rollout or judge call: no labels, the record is redone next run
    )


def prefix_closed(labels: Labels) -> Labels:
    """Once a step is wrong, every later step is wrong: the solution has left the correct path."""
    out: Labels = []
    wrong = False
    for label in labels:
        wrong = wrong or label is False
        out.append(False if wrong else label)
    return out


class Labeler(ABC):
    """Labels the steps of many solutions at once (batching is the labeller's business)."""

    name = "labeler"

    @abstractmethod
    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]: ...


# ------------------------------------------------------------------------------------------- rule


def rule_labels(verdicts: Sequence[str], final_correct: bool | None) -> Labels:
    """Labels from per-step arithmetic verdicts (correct/wrong/unknown) and the final answer
    (``None`` when there is no gold answer)."""
    n = len(verdicts)
    first_wrong = next((i for i, v in enumerate(verdicts) if v == "wrong"), None)
    if first_wrong is not None:
        return [i < first_wrong for i in range(n)]
    if final_correct is None:
        return [None] * n
    if final_correct:
        return [True] * n
    return [None] * (n - 1) + [False]  # wrong answer, error not located


class RuleLabeler(Labeler):
    name = "rule"

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        from wizardmath.verify import check_steps, verify

        out = []
        for s in solutions:
            verdicts = [v.verdict for v in check_steps(s.text)]
            if len(verdicts) != len(s.steps):  # the verifier cut the text differently: trust the answer only
                verdicts = ["unknown"] * len(s.steps)
            final = verify(s.answer, s.text) if s.answer is not None else None
            out.append(StepLabels(rule_labels(verdicts, final)))
        return out


# ------------------------------------------------------------------------------------- Monte Carlo


def prompt_text(backend: Backend, problem: str, template: str) -> str:
    """The prompt as text, so a step prefix can be appended: chat goes through the backend's tokenizer."""
    if template != "chat":
        return format_prompt(problem, template)
    if hasattr(backend, "render"):  # transformers backend
        return backend.render(chat_messages(problem))
    if hasattr(backend, "llm"):  # vLLM
        return format_prompt(problem, "chat", backend.llm.get_tokenizer())
    raise ValueError(
        "mc labels with template 'chat' continue a rendered chat prompt: use the transformers or vllm backend"
    )


class MonteCarloLabeler(Labeler):
    """Math-Shepherd's completion labelling: roll the policy out from every step prefix."""

    name = "mc"

    def __init__(
        self,
        backend: Backend,
        rollouts: int = 8,
        temperature: float = 0.8,
        max_new_tokens: int = 256,
        hard: str = "any",
        template: str = "wizardmath",
        completion_prefix: str = " ",
        seed: int = 0,
        chunk: int = 256,
        progress: bool = True,
    ):
        if hard not in ("any", "majority"):
            raise ValueError(f"mc hard label rule must be 'any' or 'majority', got {hard!r}")
        self.backend, self.rollouts, self.hard = backend, rollouts, hard
        self.sampling = SamplingParams(
            temperature=temperature, max_new_tokens=max_new_tokens, n=rollouts, seed=seed
        )
        self.template, self.prefix, self.chunk, self.progress = template, completion_prefix, chunk, progress

    def _prefix(self, s: Solution, upto: int) -> str:
        return self.prefix + "\n".join(s.steps[: upto + 1]) + "\n"

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        from tqdm.auto import tqdm

        from wizardmath.verify import verify

        jobs = [
            (si, i) for si, s in enumerate(solutions) for i in range(len(s.steps) - 1) if s.answer is not None
        ]
        soft: list[list[float | None]] = [[None] * len(s.steps) for s in solutions]
        errors: dict[int, str] = {}
        bar = tqdm(total=len(jobs), desc="mc rollouts", unit="prefix", disable=not self.progress)
        for begin in range(0, len(jobs), self.chunk):
            batch = jobs[begin : begin + self.chunk]
            prompts = [
                prompt_text(self.backend, solutions[si].problem, self.template)
                + self._prefix(solutions[si], i)
                for si, i in batch
            ]
            results = self.backend.generate(prompts, self.sampling)
            for (si, i), gens in zip(batch, results, strict=True):
                s = solutions[si]
                failed = next((g.error for g in gens if g.error is not None), None)
                if failed is not None:
                    errors.setdefault(si, failed)
                hits = [verify(s.answer, self._prefix(s, i) + g.text) for g in gens if g.error is None]
                soft[si][i] = sum(hits) / len(hits) if hits else None
            bar.update(len(batch))
        bar.close()
        out = []
        for si, (s, values) in enumerate(zip(solutions, soft, strict=True)):
            if s.answer is not None and s.steps:  # the last step holds the answer line: no rollout needed
                values[-1] = 1.0 if verify(s.answer, s.text) else 0.0
            hard = [None if v is None else (v > 0 if self.hard == "any" else v >= 0.5) for v in values]
            out.append(StepLabels(prefix_closed(hard), values, errors.get(si)))
        return out


# ------------------------------------------------------------------------------------------ judge

_JUDGE_LINE = re.compile(r"(?im)^\W*step\s*(\d+)\W*?(correct|right|good|wrong|incorrect|bad|[+-](?=\s*$))")


def parse_judge(text: str, num_steps: int) -> Labels:
    """Per-step verdicts from a judge's reply; steps it did not rate get ``None``."""
    labels: Labels = [None] * num_steps
    for number, word in _JUDGE_LINE.findall(text):
        k = int(number) - 1
        if 0 <= k < num_steps and labels[k] is None:
            labels[k] = word.lower() in ("correct", "right", "good", "+")
    return labels


class JudgeLabeler(Labeler):
    name = "judge"

    def __init__(self, backend: Backend, max_new_tokens: int = 512, prompt_file: str | None = None):
        self.backend = backend
        self.template = (
            Path(prompt_file).read_text() if prompt_file else (PROMPTS / "prm_judge.txt").read_text()
        )
        self.sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)

    def label(self, solutions: Sequence[Solution]) -> list[StepLabels]:
        prompts = [
            [
                {
                    "role": "user",
                    "content": self.template.format(
                        problem=s.problem, solution=s.text, num_steps=len(s.steps)
                    ),
                }
            ]
            for s in solutions
        ]
        out = []
        for s, gens in zip(solutions, self.backend.generate(prompts, self.sampling), strict=True):
            if not gens or gens[0].error is not None:
                out.append(
                    StepLabels([None] * len(s.steps), backend_error=gens[0].error if gens else "no reply")
                )
                continue
            out.append(StepLabels(prefix_closed(parse_judge(gens[0].text, len(s.steps)))))
        return out


def _mc_labeler(config: LabelConfig, policy: Callable[[], Backend]) -> Labeler:
    return MonteCarloLabeler(
        policy(),
        config.mc_rollouts,
        config.mc_temperature,
        config.max_new_tokens,
        config.mc_hard,
        config.template,
        completion_prefix="" if config.template == "chat" else " ",
        seed=config.seed,
    )


# name -> builder from the label-prm config and the (lazily built) policy backend
LABELERS: dict[str, Callable[[LabelConfig, Callable[[], Backend]], Labeler]] = {
    "rule": lambda config, policy: RuleLabeler(),
    "mc": _mc_labeler,
    "judge": lambda config, policy: JudgeLabeler(config.build_judge()),
}


# ---------------------------------------------------------------------------------------- agreement


def agreement(a: Sequence[StepLabels], b: Sequence[StepLabels]) -> tuple[int, int]:
    """(steps where both labellers agree, steps where both gave a label)."""
    agree = total = 0
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x.labels, y.labels, strict=True):
            if u is not None and v is not None:
                total += 1
                agree += u == v
    return agree, total


def agreeing_prefix(a: StepLabels, b: StepLabels) -> int:
    """How many leading steps both labellers label, and label the same."""
    n = 0
    for u, v in zip(a.labels, b.labels, strict=True):
        if u is None or v is None or u != v:
            break
        n += 1
    return n


# --------------------------------------------------------------------------------------- the command


@dataclass
class LabelConfig(BackendArguments, JudgeArguments):
    """``wizardmath label-prm``: sample (or read) solutions, label their steps, write stepwise JSONL."""

    labeler: str = field(
        default="rule", metadata={"help": "Step labeller: rule, mc or judge.", "choices": list(LABELERS)}
    )
    output: str = field(
        default=default_output("prm_labels.jsonl"),
        metadata={"help": "Stepwise JSONL to append to (re-running skips ids already there)."},
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Policy (the SFT model) that writes solutions and, for mc, the rollouts."},
    )
    backend: str = field(
        default="transformers",
        metadata={"help": "Backend serving the policy: transformers, openai, vllm, ..."},
    )
    judge_backend: str = field(default="openai", metadata={"help": "judge: backend of the judging LLM."})
    dataset: str = field(
        default="jsonl",
        metadata={"help": "Problems to solve: gsm8k, math, math500, jsonl (data_path) or a hub name."},
    )
    data_path: str | None = field(
        default=None,
        metadata={
            "help": "Local problems file (e.g. evolve's problems.jsonl); with import_format, the file or hub name to import."
        },
    )
    split: str = field(default="train", metadata={"help": "Split of a hub data set."})
    limit: int | None = field(
        default=None, metadata={"help": "Use at most this many problems (or imported records)."}
    )
    solutions_path: str | None = field(
        default=None,
        metadata={
            "help": "Label these solutions (JSONL: id, problem, answer, solution) instead of sampling."
        },
    )
    num_samples: int = field(default=4, metadata={"help": "Solutions sampled per problem."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature of the solutions."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest solution or rollout, in tokens."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per generate call (local backends)."})
    template: str = field(
        default="wizardmath", metadata={"help": "Prompt template the policy was trained with."}
    )
    mc_rollouts: int = field(default=8, metadata={"help": "mc: rollouts from every step prefix."})
    mc_temperature: float = field(default=0.8, metadata={"help": "mc: rollout temperature."})
    mc_hard: str = field(
        default="any", metadata={"help": "mc: hard label is 'any' rollout correct or the 'majority'."}
    )
    agree_with: str | None = field(
        default=None,
        metadata={"help": "Second labeller; keep each solution's steps up to the first disagreement."},
    )
    unknown: str = field(
        default="keep",
        metadata={
            "help": "Steps no labeller could decide: keep (null labels, masked in training) or drop the record (strict TRL)."
        },
    )
    import_format: str | None = field(
        default=None,
        metadata={"help": "Convert data_path instead of labelling: prm800k, math-shepherd or stepwise."},
    )
    neutral_as: str = field(
        default="positive", metadata={"help": "prm800k import: rating 0 counts as positive or negative."}
    )
    chunk: int = field(
        default=64, metadata={"help": "Problems per labelling round (each round is written before the next)."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    overwrite: bool = field(default=False, metadata={"help": "Delete --output and start clean."})
    resume: bool = field(
        default=False,
        metadata={"help": "Append to --output even though it was written with other data or settings."},
    )

    def __post_init__(self) -> None:
        for name in ("labeler", "agree_with"):
            value = getattr(self, name)
            if value is not None and value not in LABELERS:
                raise ValueError(f"{name}: unknown labeller '{value}'; valid: {', '.join(LABELERS)}")
        check_limit(self.limit)
        if self.unknown not in ("keep", "drop"):
            raise ValueError(f"unknown must be 'keep' or 'drop', got {self.unknown!r}")
        if self.import_format is not None and not self.data_path:
            raise ValueError(
                "import_format needs data_path: a local PRM800K / Math-Shepherd file or a hub data set name"
            )
        needs_policy = self.import_format is None and (
            self.solutions_path is None or "mc" in (self.labeler, self.agree_with)
        )
        if needs_policy and not self.model:
            raise ValueError(
                "set --model to the policy (SFT) checkpoint: it writes the solutions and the mc rollouts"
            )
        if (
            self.import_format is None
            and self.solutions_path is None
            and not self.data_path
            and self.dataset == "jsonl"
        ):
            raise ValueError(
                "set --data-path to the problems (e.g. evolve's problems.jsonl), or --solutions_path"
            )


def _problem_text(row: dict[str, Any]) -> str | None:
    """The problem of a solutions row: ``problem`` (solve writes it beside the rendered ``prompt``)."""
    return row["problem"] if isinstance(row.get("problem"), str) else None


def _message_text(value: Any, role: str) -> Any:
    """A conversational field (solve's rows with template chat) as the text of its last ``role`` message."""
    if isinstance(value, list):
        texts = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == role]
        return texts[-1] if texts else None
    return value


def _read_solutions(path: str) -> list[Solution]:
    """Solutions to label: ``id``, ``problem`` (solve writes it beside the rendered ``prompt``), ``solution``
    (or ``completion``) and the gold answer in ``gold`` (solve's rejected samples, whose ``answer`` is the
    wrong one) or ``answer``."""
    from reward_models.common import split_solution
    from wizardmath.jsonl import DataError, iter_jsonl

    out = []
    for line, row in iter_jsonl(path, required=("id",)):
        problem = _problem_text(row)
        text = row.get("solution") or _message_text(row.get("completion"), "assistant")
        if not isinstance(problem, str) or not isinstance(text, str):
            raise DataError(
                path,
                line,
                "needs 'problem' and 'solution' (or 'completion') strings (solve's files from before "
                "it wrote 'problem': solve again)",
                field="problem" if not isinstance(problem, str) else "solution",
            )
        answer = row.get("gold", row.get("answer"))
        out.append(
            Solution(str(row["id"]), problem, None if answer is None else str(answer), split_solution(text))
        )
    return [s for s in out if s.steps]


def _sampled_solutions(
    config: LabelConfig, policy: Callable[[], Backend], done: set[str], stats: dict[str, int]
):
    """Chunks of freshly sampled solutions, skipping problems whose samples are all written; samples
    the backend failed to produce are counted in ``stats["retry_pending"]`` (the next run redoes them)."""
    from reward_models.common import split_solution
    from wizardmath.data import load_problems
    from wizardmath.data.templates import build_prompt

    problems = load_problems(config.dataset, config.data_path, config.split, config.limit)
    if not problems:
        raise ValueError(f"{config.data_path or config.dataset}: no problems to label (empty input)")
    todo = [
        p
        for p in problems
        if p.answer is not None and any(f"{p.id}/s{k}" not in done for k in range(config.num_samples))
    ]
    for begin in range(0, len(todo), config.chunk):
        batch = todo[begin : begin + config.chunk]
        sampling = SamplingParams(
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            n=config.num_samples,
            seed=config.seed + begin,
        )
        # chat: messages, which the backend renders with the model's chat template
        prompts = [build_prompt(p.problem, config.template) for p in batch]
        results = policy().generate(prompts, sampling)
        chunk = []
        for p, gens in zip(batch, results, strict=True):
            for k, g in enumerate(gens):
                stats["retry_pending"] += g.error is not None and f"{p.id}/s{k}" not in done
                steps = split_solution(g.text) if g.error is None else []
                if steps and f"{p.id}/s{k}" not in done:
                    chunk.append(Solution(f"{p.id}/s{k}", p.problem, p.answer, steps, {"parent_id": p.id}))
        yield chunk


def _record(s: Solution, labels: StepLabels, keep: int, name: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": s.id,
        "prompt": s.problem,
        "completions": s.steps[:keep],
        "labels": labels.labels[:keep],
    }
    if labels.soft is not None:
        record["soft_labels"] = labels.soft[:keep]
    record.update({"answer": s.answer, "labeler": name, **({"meta": s.meta} if s.meta else {})})
    return record


def label_prm(config: LabelConfig) -> dict[str, Any]:
    """Run the labelling (or import) described by ``config``; return this run's counts."""
    from dataclasses import asdict

    from wizardmath.runstate import OutputLock, check_manifest, fingerprint

    with OutputLock(config.output, "label-prm", folder=False):
        free = (
            "overwrite",
            "resume",
            "limit",
            "chunk",
            "batch_size",
            "base_url",
            "judge_base_url",
            "backend_args",
        )
        settings = {k: v for k, v in asdict(config).items() if k not in free}
        settings["input_files"] = fingerprint([config.data_path or "", config.solutions_path or ""])
        check_manifest(
            str(config.output) + ".run.json",
            settings,
            [config.output, dropped_path(config.output)],
            config.overwrite,
            config.resume,
        )
        return _label_prm(config)


def dropped_path(output: str | os.PathLike) -> Path:
    """``OUTPUT.dropped``: ids of the records a run dropped (no agreeing prefix, or unknown steps with
    ``unknown: drop``). They are done: a re-run skips them and does not count them again."""
    return Path(str(output) + ".dropped")


def _label_prm(config: LabelConfig) -> dict[str, Any]:
    from wizardmath.jsonl import JsonlWriter, read_ids, write_json, write_jsonl
    from wizardmath.runstate import merge_counts

    if config.import_format is not None:
        from reward_models.stepwise import load_stepwise

        records = load_stepwise(
            config.data_path, config.import_format, config.split, config.neutral_as, config.limit
        )
        if config.unknown == "drop":
            records = [r for r in records if None not in r["labels"]]
        count = write_jsonl(config.output, records)
        print(f"label-prm: imported {count} {config.import_format} records to {config.output}")
        return {"records": count}

    local = {"batch_size": config.batch_size} if config.backend == "transformers" else {}
    policy = functools.cache(
        lambda: config.build_backend(**local)
    )  # built only when a labeller or sampling needs it
    primary = LABELERS[config.labeler](config, policy)
    second = LABELERS[config.agree_with](config, policy) if config.agree_with else None
    done = read_ids(config.output) | read_ids(dropped_path(config.output))
    stats = {
        "records": 0,
        "steps": 0,
        "positive": 0,
        "negative": 0,
        "unlabelled": 0,
        "dropped": 0,
        "agree": 0,
        "compared": 0,
        "retry_pending": 0,
    }
    if config.solutions_path:
        every = _read_solutions(config.solutions_path)
        if not every:
            raise ValueError(f"{config.solutions_path}: no solutions to label (empty input)")
        solutions = [s for s in every if s.id not in done]
        chunks = (
            solutions[i : i + config.chunk * config.num_samples]
            for i in range(0, len(solutions), config.chunk * config.num_samples)
        )
    else:
        chunks = _sampled_solutions(config, policy, done, stats)
    with JsonlWriter(config.output) as writer, ExitStack() as stack:
        dropped: JsonlWriter | None = None  # opened on the first drop: no empty sidecar otherwise
        for chunk in chunks:
            labels = primary.label(chunk)
            others = second.label(chunk) if second else None
            if others is not None:
                agree, compared = agreement(labels, others)
                stats["agree"] += agree
                stats["compared"] += compared
            for i, (s, lab) in enumerate(zip(chunk, labels, strict=True)):
                if lab.backend_error or (others is not None and others[i].backend_error):
                    stats["retry_pending"] += 1  # an outage is no verdict on these steps
                    continue
                keep = agreeing_prefix(lab, others[i]) if others is not None else len(s.steps)
                if keep == 0 or (config.unknown == "drop" and None in lab.labels[:keep]):
                    stats["dropped"] += 1
                    dropped = dropped or stack.enter_context(JsonlWriter(dropped_path(config.output)))
                    dropped.write({"id": s.id})
                    continue
                record = _record(s, lab, keep, config.labeler)
                writer.write(record)
                stats["records"] += 1
                stats["steps"] += keep
                stats["positive"] += sum(v is True for v in record["labels"])
                stats["negative"] += sum(v is False for v in record["labels"])
                stats["unlabelled"] += sum(v is None for v in record["labels"])
    if second is not None:
        stats["agreement"] = stats["agree"] / stats["compared"] if stats["compared"] else None
    stats_path = Path(str(config.output) + ".stats.json")
    try:  # counts add up over resumed runs; retry_pending is this run's
        before = json.loads(stats_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    total = {
        **merge_counts(
            {k: v for k, v in before.items() if k in stats and k not in ("retry_pending", "agreement")}, stats
        )
    }
    if second is not None:
        total["agreement"] = total["agree"] / total["compared"] if total["compared"] else None
    write_json(stats_path, total)
    print(f"label-prm: {stats} -> {config.output}")
    return stats


__all__ = [
    "LABELERS",
    "JudgeLabeler",
    "LabelConfig",
    "Labeler",
    "MonteCarloLabeler",
    "RuleLabeler",
    "Solution",
    "StepLabels",
    "agreement",
    "agreeing_prefix",
    "label_prm",
    "parse_judge",
    "prefix_closed",
    "rule_labels",
]
