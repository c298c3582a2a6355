"""What an evaluation reads: the problems (each with a gold answer) and, for ``--completions``, the
completions to grade instead of generating."""

from __future__ import annotations

import os
from collections.abc import Sequence

from wizardmath.data import MathProblem, load_problems
from wizardmath.eval.config import EvalConfig
from wizardmath.jsonl import DataError, iter_jsonl


def load_eval_problems(config: EvalConfig, limit: int | None = None) -> list[MathProblem]:
    problems = load_problems(config.dataset, config.data_path, config.split, limit, config.parsed_field_map())
    if not problems:
        raise ValueError(f"no problems in {config.data_path or config.dataset}")
    return problems


def check_gold(problems: Sequence[MathProblem], where: str) -> None:
    missing = [p.id for p in problems if p.answer in (None, "")]
    if missing:
        raise ValueError(
            f"{where}: {len(missing)} problems have no gold answer (first: {missing[0]!r}); "
            "eval needs one each"
        )


def read_completions(path: str | os.PathLike, problems: Sequence[MathProblem]) -> dict[str, list[str]]:
    """``{id: [completion, ...]}`` from ``{"id", "completion"}`` or ``{"id", "completions": [...]}`` lines.

    Every id must be one of ``problems``: a completions file for another split or data set is an
    error naming the line, not a silent 0%.
    """
    known = {p.id for p in problems}
    example = next(iter(known), "")
    out: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    for line, record in iter_jsonl(path, required=("id",)):
        rid = str(record["id"])
        if "completions" in record:
            texts = record["completions"]
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise DataError(path, line, "expected a non-empty list of strings", field="completions")
        elif "completion" in record:
            if not isinstance(record["completion"], str):
                raise DataError(
                    path,
                    line,
                    f"expected a string, got {type(record['completion']).__name__}",
                    field="completion",
                )
            texts = [record["completion"]]
        else:
            raise DataError(
                path,
                line,
                "missing: give 'completion' (a string) or 'completions' (a list)",
                field="completion",
            )
        if rid not in known:
            raise DataError(
                path,
                line,
                f"id {rid!r} is not in the data set ({len(known)} problems, ids like {example!r})",
                field="id",
            )
        if rid in out:
            raise DataError(path, line, f"duplicate id {rid!r} (first at line {first_line[rid]})", field="id")
        out[rid], first_line[rid] = texts, line
    return out
