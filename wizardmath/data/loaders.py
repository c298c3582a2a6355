"""Load GSM8k, MATH, MATH-500, any local JSONL/JSON/Parquet file, or a hub data set as ``MathProblem``s.

``load_problems(dataset, data_path=None, split="test")`` is the one entry point:

- ``dataset`` in ``gsm8k``, ``math`` (the full 5,000-problem test set), ``math500``: read ``data_path``
  when given (a local copy), otherwise the hub set of that name through ``datasets.load_dataset``
  (see ``HUB_SOURCES``).
- ``dataset`` in ``wizardmath.data.benchmarks.BENCHMARKS`` (svamp, asdiv, aime24, aime25, amc23,
  minerva_math, olympiadbench): the same, with each set's own hub name, split and fields.
- ``dataset="jsonl"`` (alias ``local``): any local file, columns mapped by ``field_map``
  (``{"problem": "question", "answer": "final"}``); unmapped names are guessed from common spellings.
- anything else: a hub name or a local data-set folder, read by ``datasets.load_dataset`` and
  mapped like a local file.

Ids default to ``<dataset>/<split>/<index>`` unless the row has an ``id`` (or ``unique_id``).
Malformed input raises ``DataError`` naming the file, line (record number for JSON/Parquet and
hub rows) and field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from wizardmath.data.records import MathProblem
from wizardmath.jsonl import DataError, iter_jsonl

MATH_SUBJECTS = (
    "algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory", "prealgebra",
    "precalculus",
)  # fmt: skip
# Hub names the built-in sets come from (name, configs); users without a local copy get these.
# MATH on the hub is one config per subject: all seven are read, in order.
HUB_SOURCES: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "gsm8k": ("openai/gsm8k", ("main",)),
    "math": ("EleutherAI/hendrycks_math", MATH_SUBJECTS),
    "math500": ("HuggingFaceH4/MATH-500", (None,)),
}

# Column spellings tried, in order, when a generic file has no field_map entry for a field.
GUESSES: dict[str, tuple[str, ...]] = {
    "id": ("id", "unique_id", "idx", "uid"),
    "problem": ("problem", "question", "instruction", "query", "prompt"),
    "answer": ("answer", "gold", "final_answer", "target"),
    "solution": ("solution", "response", "output", "rationale"),
    "level": ("level", "difficulty"),
    "subject": ("subject", "type", "category"),
}
RECORD_FIELDS = ("parent_id", "round", "operation", "backend", "source", "meta")

Row = dict[str, Any]
Normaliser = Callable[[Row, str, str, int | None, dict[str, str]], MathProblem]


def parse_field_map(text: str | None) -> dict[str, str]:
    """``"problem=question,answer=final"`` -> ``{"problem": "question", "answer": "final"}``.

    (The CLI form of a field map.)"""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    bad = [p[0] for p in pairs if len(p) != 2]
    if bad:
        raise ValueError(f"field_map: expected ours=theirs pairs, got {bad}")
    return {k.strip(): v.strip() for k, v in pairs}


def gsm8k_answer(text: str) -> str | None:
    """The number after ``####`` with thousands commas removed (``#### 1,200`` -> ``1200``)."""
    if "####" not in text:
        return None
    return text.rsplit("####", 1)[1].strip().replace(",", "") or None


def _default_id(row: Row, default: str) -> str:
    for key in GUESSES["id"]:
        if row.get(key) not in (None, ""):
            return str(row[key])
    return default


def _gsm8k(row: Row, rid: str, where: str, line: int | None, field_map: dict[str, str]) -> MathProblem:
    question, answer = field_map.get("problem", "question"), field_map.get("answer", "answer")
    for name in (question, answer):
        if not isinstance(row.get(name), str) or not row[name].strip():
            raise DataError(where, line, "missing or not a string", field=name)
    gold = gsm8k_answer(row[answer])
    if gold is None:
        raise DataError(where, line, "no final '#### <number>' line", field=answer)
    return MathProblem(
        id=_default_id(row, rid), problem=row[question], answer=gold, solution=row[answer], source="gsm8k"
    )


def _math(row: Row, rid: str, where: str, line: int | None, field_map: dict[str, str]) -> MathProblem:
    from wizardmath.verify import extract_boxed

    problem, solution = field_map.get("problem", "problem"), field_map.get("solution", "solution")
    if not isinstance(row.get(problem), str) or not row[problem].strip():
        raise DataError(where, line, "missing or not a string", field=problem)
    text = row.get(solution)
    answer = row.get(field_map.get("answer", "answer"))
    if answer in (None, "") and isinstance(text, str):
        answer = extract_boxed(text)
    if answer in (None, ""):
        missing = solution if isinstance(text, str) else "answer"
        raise DataError(
            where, line, "no answer: neither an 'answer' field nor a \\boxed{} in the solution", field=missing
        )
    return MathProblem(
        id=_default_id(row, rid),
        problem=row[problem],
        answer=str(answer),
        solution=text if isinstance(text, str) else None,
        source="math",
        level=_level(row.get(field_map.get("level", "level")), where, line),
        subject=row.get(field_map.get("subject", "subject")) or row.get("type"),
    )


def _level(value: Any, where: str, line: int | None) -> int | None:
    from wizardmath.data.records import parse_level

    return parse_level(value, where, line)


def _generic(row: Row, rid: str, where: str, line: int | None, field_map: dict[str, str]) -> MathProblem:
    """Map columns by ``field_map`` or by the common spellings in ``GUESSES``."""
    data: Row = {}
    used: set[str] = set()
    for name, guesses in GUESSES.items():
        candidates = (field_map[name],) if name in field_map else guesses
        for column in candidates:
            if row.get(column) not in (None, ""):
                data[name] = row[column]
                used.add(column)
                break
        else:
            if name in field_map and name in ("problem", "answer"):
                raise DataError(where, line, "missing", field=field_map[name])
    for name in RECORD_FIELDS:
        if name in row and name not in data:
            data[name] = row[name]
    extra = {k: v for k, v in row.items() if k not in used and k not in RECORD_FIELDS}
    if extra:  # unmapped columns ride along in meta rather than being dropped
        data["meta"] = {**(data.get("meta") or {}), **extra}
    if "problem" not in data:
        tried = field_map.get("problem") or "/".join(GUESSES["problem"])
        raise DataError(where, line, "missing (set field_map to name the problem column)", field=tried)
    data.setdefault("id", rid)
    answer = data.get("answer")
    if isinstance(answer, str) and "####" in answer:  # a GSM8k-style worked answer
        data["solution"] = data.get("solution") or answer
        data["answer"] = gsm8k_answer(answer)
    elif answer in (None, "") and isinstance(data.get("solution"), str):
        from wizardmath.verify import extract_boxed

        data["answer"] = extract_boxed(data["solution"])
    return MathProblem.from_dict(data, where, line)


def _benchmark(name: str) -> Normaliser:
    from wizardmath.data.benchmarks import normalise_row

    return lambda row, rid, where, line, field_map: normalise_row(name, row, rid, where, line)


def _add_benchmarks() -> None:
    from wizardmath.data.benchmarks import BENCHMARKS

    for name, spec in BENCHMARKS.items():
        NORMALISERS[name] = _benchmark(name)
        HUB_SOURCES[name] = (spec.hub, (spec.config,))
        HUB_SPLITS[name] = spec.split


NORMALISERS: dict[str, Normaliser] = {"gsm8k": _gsm8k, "math": _math, "math500": _math}
HUB_SPLITS: dict[str, str] = {}  # sets whose evaluation problems sit in another hub split than "test"
_add_benchmarks()
LOCAL_ALIASES = ("jsonl", "local", "json", "parquet")


def local_rows(path: Path) -> Iterator[tuple[int, Row]]:
    """Rows of a local file with their 1-based line (JSONL) or record number (JSON, Parquet)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from iter_jsonl(path)
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(path, err.lineno, f"invalid JSON ({err.msg})") from err
        if isinstance(data, dict):  # {"data": [...]} and similar wrappers
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else None
        if not isinstance(data, list):
            raise DataError(path, None, "expected a JSON list of objects (or JSONL, one object per line)")
        for number, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                raise DataError(path, number, f"expected a JSON object, got {type(row).__name__}")
            yield number, row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for number, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, row
    else:
        raise DataError(path, None, f"unsupported file type '{suffix}' (use .jsonl, .json or .parquet)")


def _hub_rows(name: str, configs: tuple[str | None, ...], split: str) -> Iterator[tuple[int, Row]]:
    """Rows of a hub data set (or a local data-set folder), over one or more configs, numbered from 1."""
    from datasets import load_dataset

    number = 0
    for config in configs:
        kwargs = {"name": config} if config else {}
        for row in load_dataset(name, split=split, **kwargs):
            number += 1
            yield number, dict(row)


def load_problems(
    dataset: str,
    data_path: str | os.PathLike | None = None,
    split: str = "test",
    limit: int | None = None,
    field_map: dict[str, str] | None = None,
) -> list[MathProblem]:
    """Load ``dataset`` as normalised ``MathProblem`` records (see the module docstring)."""
    field_map = dict(field_map or {})
    key = dataset.lower()
    if key in NORMALISERS:
        normalise = NORMALISERS[key]
        if data_path is not None:
            rows, where = local_rows(Path(data_path)), str(data_path)
        else:
            hub, configs = HUB_SOURCES[key]
            if split == "test":
                split = HUB_SPLITS.get(key, split)
            rows, where = _hub_rows(hub, configs, split), f"{hub}[{split}]"
    elif key in LOCAL_ALIASES:
        if data_path is None:
            raise ValueError(f"dataset '{dataset}' reads a local file: set data_path (--data-path FILE)")
        normalise, rows, where = _generic, local_rows(Path(data_path)), str(data_path)
    elif "/" in dataset or Path(dataset).exists():
        config = field_map.pop("config", None)
        normalise, rows, where = _generic, _hub_rows(dataset, (config,), split), f"{dataset}[{split}]"
    else:
        valid = ", ".join([*NORMALISERS, "jsonl"])
        raise ValueError(
            f"unknown dataset '{dataset}': use one of {valid}, a hub name (owner/name) or a local folder"
        )

    name = Path(dataset).name if key not in NORMALISERS and key not in LOCAL_ALIASES else key
    if key in LOCAL_ALIASES:
        name = Path(str(data_path)).stem
    problems: list[MathProblem] = []
    seen: dict[str, int | None] = {}
    for index, (line, row) in enumerate(rows):
        if limit is not None and len(problems) >= limit:
            break
        problem = normalise(row, f"{name}/{split}/{index}", where, line, field_map)
        if problem.id in seen:
            raise DataError(
                where, line, f"duplicate id {problem.id!r} (first at {seen[problem.id]})", field="id"
            )
        seen[problem.id] = line
        problems.append(problem)
    return problems


def save_problems(path: str | os.PathLike, problems: list[MathProblem]) -> int:
    from wizardmath.jsonl import write_jsonl

    return write_jsonl(path, (p.to_dict() for p in problems))
