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

Under ``accelerate launch`` / ``torchrun`` each process labels its share of the solutions (or samples
its share of the problems) not yet done (``wizardmath.distributed``) into ``<output>.rank<r>``; rank 0
appends the parts to ``--output`` once every rank is done and writes the stats of all ranks. An
import (``--import_format``) is one file conversion: rank 0 does it alone. A killed launch's parts
are merged when it is run again.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from reward_models.label_config import LABELERS, LabelConfig
from reward_models.step_labels import (  # noqa: F401  (re-exported: the labellers live there)
    PROMPTS,
    JudgeLabeler,
    Labeler,
    Labels,
    MonteCarloLabeler,
    RuleLabeler,
    Solution,
    StepLabels,
    agreeing_prefix,
    agreement,
    parse_judge,
    prefix_closed,
    prompt_text,
    rule_labels,
)
from wizardmath import distributed as dist
from wizardmath.backends import Backend, SamplingParams


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
    todo = dist.shard(  # this rank's share (all of them in a plain run)
        [
            p
            for p in problems
            if p.answer is not None and any(f"{p.id}/s{k}" not in done for k in range(config.num_samples))
        ]
    )
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

    from wizardmath.data import template_for_model
    from wizardmath.runstate import check_manifest, fingerprint

    config.template = template_for_model(config.template, config.model, served=bool(config.base_url))
    dist.start()  # under a launch: the process group first (it picks this rank's GPU), then the model
    with dist.main_lock(config.output, "label-prm", folder=False):
        free = (
            "progress",
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
        outputs = [config.output, dropped_path(config.output)]
        if dist.is_main_process():
            for path in outputs:
                dist.merge_parts(path)  # what a killed launch's ranks wrote
            check_manifest(
                str(config.output) + ".run.json", settings, outputs, config.overwrite, config.resume
            )
        dist.barrier()  # every rank reads the done ids rank 0 settled
        return _label_prm(config)


def dropped_path(output: str | os.PathLike) -> Path:
    """``OUTPUT.dropped``: ids of the records a run dropped (no agreeing prefix, or unknown steps with
    ``unknown: drop``). They are done: a re-run skips them and does not count them again."""
    return Path(str(output) + ".dropped")


def _import(config: LabelConfig) -> dict[str, Any]:
    """``--import_format``: existing step-labelled data converted to the stepwise records."""
    from reward_models.stepwise import load_stepwise
    from wizardmath.jsonl import write_jsonl

    records = load_stepwise(
        config.data_path, config.import_format, config.split, config.neutral_as, config.limit
    )
    if config.unknown == "drop":
        records = [r for r in records if None not in r["labels"]]
    count = write_jsonl(config.output, records)
    print(f"label-prm: imported {count} {config.import_format} records to {config.output}")
    return {"records": count}


def _label_prm(config: LabelConfig) -> dict[str, Any]:
    from wizardmath.jsonl import JsonlWriter, read_ids, write_json
    from wizardmath.runstate import merge_counts

    if config.import_format is not None:
        return dist.share(_import(config) if dist.is_main_process() else None)

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
        solutions = dist.shard([s for s in every if s.id not in done])  # this rank's share
        chunks = (
            solutions[i : i + config.chunk * config.num_samples]
            for i in range(0, len(solutions), config.chunk * config.num_samples)
        )
    else:
        chunks = _sampled_solutions(config, policy, done, stats)
    with JsonlWriter(dist.part_path(config.output)) as writer, ExitStack() as stack:
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
                    dropped = dropped or stack.enter_context(
                        JsonlWriter(dist.part_path(dropped_path(config.output)))
                    )
                    dropped.write({"id": s.id})
                    continue
                record = _record(s, lab, keep, config.labeler)
                writer.write(record)
                stats["records"] += 1
                stats["steps"] += keep
                stats["positive"] += sum(v is True for v in record["labels"])
                stats["negative"] += sum(v is False for v in record["labels"])
                stats["unlabelled"] += sum(v is None for v in record["labels"])
    stats = dist.sum_counts(stats)  # every rank's counts
    dist.merge_all([config.output, dropped_path(config.output)])
    if not dist.is_main_process():
        return dist.share(None)  # rank 0's stats
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
    return dist.share(stats)


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
