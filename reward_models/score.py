"""``wizardmath score``: score problems with an IRM or solutions with a PRM, from the command line.

    wizardmath score --model checkpoints/irm --problem "Tom has 5 apples. ..."
    wizardmath score --model runs/prm --problem "..." --solution " Step 1: ...\\nThe answer is: 8"
    wizardmath score --model runs/prm --data-path solutions.jsonl --output scored.jsonl

The kind of model is read from its config (a 1-output head is an IRM, a 2-way token head a PRM).
A file gets one output line per input line with ``irm_score`` or ``prm_score`` and ``prm_steps``
added; ids already in ``--output`` are skipped, so a killed run resumes (a row without an ``id``
gets ``line:N``, its input line, in ``--output``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

KINDS = ("auto", "irm", "prm")


@dataclass
class ScoreConfig:
    model: str | None = field(
        default=None,
        metadata={"help": "A trained IRM or PRM folder (train-irm / train-prm write runs/irm, runs/prm)."},
    )
    kind: str = field(
        default="auto",
        metadata={"help": "auto (read from the model config), irm or prm.", "choices": list(KINDS)},
    )
    problem: str | None = field(
        default=None,
        metadata={"help": "Score this one problem (IRM) or, with --solution, this solution (PRM)."},
    )
    solution: str | None = field(default=None, metadata={"help": "PRM: the solution text of --problem."})
    data_path: str | None = field(
        default=None,
        metadata={
            "help": (
                "JSONL to score: problem (or prompt), and for a PRM solution/completion or completions "
                "(steps)."
            )
        },
    )
    output: str | None = field(
        default=None, metadata={"help": "JSONL to write; without it, lines go to stdout."}
    )
    aggregate: str = field(
        default="min", metadata={"help": "PRM: how step scores become one: min, prod, last or mean."}
    )
    batch_size: int = field(default=16, metadata={"help": "Texts per forward pass."})
    device: str | None = field(
        default=None, metadata={"help": "cpu, cuda, cuda:1 ...; default: cuda when available."}
    )
    seed: int = field(default=0, metadata={"help": "Unused; accepted so shared flags work everywhere."})
    overwrite: bool = field(default=False, metadata={"help": "Delete --output and start clean."})
    resume: bool = field(
        default=False,
        metadata={"help": "Append to --output even though it was written with another model or data."},
    )

    def __post_init__(self) -> None:
        from reward_models.prm import AGGREGATES

        if not self.model:
            raise ValueError("score needs --model: a trained IRM or PRM folder (e.g. runs/prm)")
        if self.kind not in KINDS:
            raise ValueError(f"kind: '{self.kind}' is not one of {', '.join(KINDS)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate: '{self.aggregate}' is not one of {', '.join(AGGREGATES)}")
        if (self.problem is None) == (self.data_path is None):
            raise ValueError("give either --problem (one text) or --data-path (a JSONL file)")


def model_kind(path: str) -> str:
    """``irm`` or ``prm`` from a saved model's config."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if getattr(config, "prm_format", None) is not None or config.num_labels == 2:
        return "prm"
    if config.num_labels == 1:
        return "irm"
    raise ValueError(f"{path}: neither an IRM (1 output) nor a PRM (2-way token head); set --kind")


def _rows(config: ScoreConfig) -> list[tuple[int | None, dict[str, Any]]]:
    from wizardmath.jsonl import iter_jsonl

    if config.problem is not None:
        return [
            (
                None,
                {
                    "problem": config.problem,
                    **({"solution": config.solution} if config.solution is not None else {}),
                },
            )
        ]
    return list(iter_jsonl(config.data_path))


def _problem(row: dict[str, Any], where: str, line: int | None) -> str:
    from wizardmath.jsonl import DataError

    text = row.get("problem") or row.get("prompt")
    if not isinstance(text, str):
        raise DataError(where, line, "missing: need 'problem' or 'prompt'", field="problem")
    return text


def _steps(row: dict[str, Any], where: str, line: int | None) -> list[str]:
    from reward_models.common import split_solution
    from wizardmath.jsonl import DataError

    if isinstance(row.get("completions"), list):
        return [str(s) for s in row["completions"]]
    text = row.get("solution") or row.get("completion")
    if not isinstance(text, str):
        raise DataError(
            where,
            line,
            "missing: need 'solution', 'completion' or 'completions' (a PRM scores solutions)",
            field="solution",
        )
    return split_solution(text)


def score_command(config: ScoreConfig) -> int:
    if not config.output:
        return _score(config)
    from wizardmath.runstate import OutputLock, check_manifest, fingerprint

    with OutputLock(config.output, "score", folder=False):
        settings = {
            "model": config.model,
            "kind": config.kind,
            "aggregate": config.aggregate,
            "input_files": fingerprint([config.data_path or ""]),
        }
        check_manifest(
            config.output + ".run.json", settings, [config.output], config.overwrite, config.resume
        )
        return _score(config)


def _score(config: ScoreConfig) -> int:
    from reward_models.prm import aggregate
    from wizardmath.jsonl import JsonlWriter, read_ids

    kind = model_kind(config.model) if config.kind == "auto" else config.kind
    where = config.data_path or "--problem"
    done = read_ids(config.output) if config.output else set()
    every = _rows(config)
    if not every:
        raise ValueError(f"{where}: nothing to score (empty input)")
    # a row without an id gets its line's, so a re-run skips it as it skips the others (never a second copy)
    if config.output:
        every = [(line, row if "id" in row else {"id": f"line:{line or 1}", **row}) for line, row in every]
    rows = [(line, row) for line, row in every if str(row.get("id")) not in done]
    if kind == "irm":
        from reward_models.irm import InstructionRewardModel

        irm = InstructionRewardModel.from_pretrained(config.model, config.device)
        scores = irm.score([_problem(r, where, line) for line, r in rows], config.batch_size)
        results = [{**r, "irm_score": s} for (_, r), s in zip(rows, scores, strict=True)]
    else:
        from reward_models.prm import ProcessRewardModel

        prm = ProcessRewardModel.from_pretrained(config.model, config.device)
        items = [(_problem(r, where, line), _steps(r, where, line)) for line, r in rows]
        step_scores = prm.score_batch(items, config.batch_size)
        results = [
            {**r, "prm_steps": s, "prm_score": aggregate(s, config.aggregate)}
            for (_, r), s in zip(rows, step_scores, strict=True)
        ]
    if config.output:
        with JsonlWriter(config.output) as writer:
            writer.write_many(results)
        print(f"score: {len(results)} {kind} scores -> {config.output}", file=sys.stderr)
    else:
        for result in results:
            print(json.dumps(result, ensure_ascii=False))
    return 0
