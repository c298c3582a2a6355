"""Stepwise PRM data: the one record format, its checks, and importers for PRM800K and Math-Shepherd.

Every labeller, importer and the PRM trainer meet on TRL's stepwise format, one JSON object a line::

    {"id": "p7/s2", "prompt": "<problem text>", "completions": ["Step 1: ...", "Step 2: ..."],
     "labels": [true, false], "soft_labels": [0.75, 0.0]}

``labels[i]`` says whether the solution is still on a correct path after step ``i`` (PRM800K's
"found_error" and Math-Shepherd's "can still reach the answer" both read this way). ``soft_labels``
(optional, Monte-Carlo labelling) is the fraction of rollouts from that step that reached the gold
answer. A label may be ``null`` when a labeller could not decide; the PRM trainer leaves such steps
out of the loss (strict TRL readers want booleans: label with ``--unknown drop`` for them).

Importers:

- ``prm800k``: OpenAI's raw label files (``label.steps[*].completions[*].rating`` in -1/0/+1). The
  trajectory is rebuilt from ``chosen_completion`` (or ``human_completion``); at a step where no
  completion was chosen (the first mistake in phase 2) the first completion is kept and the
  trajectory ends. Rating 0 ("neutral": fine but no progress) counts as positive or negative by
  ``neutral_as``.
- ``math-shepherd``: ``input`` is the problem followed by steps each ending in the tag ``ки``;
  ``label`` is the same text with each tag replaced by ``+`` or ``-``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from wizardmath.jsonl import DataError

Record = dict[str, Any]

AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "min": min,  # the paper's choice: a solution is as good as its weakest step
    "prod": math.prod,  # probability every step is right, if steps were independent
    "last": lambda s: s[-1],  # the last step already conditions on all before it
    "mean": lambda s: sum(s) / len(s),
}
"""How a PRM's step scores become one solution score (``prm.aggregate``, the ``prm`` reward)."""
SHEPHERD_TAG = "ки"
FORMATS = ("stepwise", "prm800k", "math-shepherd")
_STEP_ONE = re.compile(r"Step\s*1\s*[:：]")


def check_record(record: Record, where: str, line: int | None) -> Record:
    """Validate one stepwise record; return it with ``labels`` as bools/None. Raises ``DataError``."""
    prompt, steps, labels = record.get("prompt"), record.get("completions"), record.get("labels")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(where, line, "missing or not a non-empty string", field="prompt")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise DataError(where, line, "expected a non-empty list of step strings", field="completions")
    if not isinstance(labels, list) or len(labels) != len(steps):
        got = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise DataError(
            where, line, f"expected a list of {len(steps)} labels (one per step), got {got}", field="labels"
        )
    out = []
    for value in labels:
        if value is None or isinstance(value, bool):
            out.append(value)
        elif value in (0, 1):
            out.append(bool(value))
        else:
            raise DataError(where, line, f"labels must be true/false/null, got {value!r}", field="labels")
    soft = record.get("soft_labels")
    if soft is not None:
        if not isinstance(soft, list) or len(soft) != len(steps):
            raise DataError(where, line, f"expected {len(steps)} values in [0, 1]", field="soft_labels")
        for value in soft:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
            ):
                raise DataError(
                    where,
                    line,
                    f"soft labels must be numbers in [0, 1] or null, got {value!r}",
                    field="soft_labels",
                )
    return {**record, "labels": out}


# ---------------------------------------------------------------------------------------------- PRM800K


def _rating_label(rating: Any, neutral_as: str) -> bool | None:
    if rating is None:
        return None
    if rating == 0:
        return neutral_as == "positive"
    return rating > 0


def from_prm800k(row: Record, where: str, line: int | None, neutral_as: str = "positive") -> Record | None:
    """One PRM800K line as a stepwise record (``None`` when it has no rated step)."""
    question, label = row.get("question"), row.get("label")
    if not isinstance(question, dict) or not isinstance(question.get("problem"), str):
        raise DataError(where, line, "expected an object with a 'problem' string", field="question")
    if not isinstance(label, dict) or not isinstance(label.get("steps"), list):
        raise DataError(where, line, "expected an object with a 'steps' list", field="label")
    steps: list[str] = []
    labels: list[bool | None] = []
    for index, step in enumerate(label["steps"]):
        options = step.get("completions") or []
        chosen = step.get("chosen_completion")
        if chosen is not None:
            if not isinstance(chosen, int) or not 0 <= chosen < len(options):
                raise DataError(
                    where,
                    line,
                    f"step {index}: chosen_completion {chosen!r} out of range",
                    field="label.steps",
                )
            pick = options[chosen]
        elif step.get("human_completion") is not None:
            human = step["human_completion"]
            steps.append(human["text"] if isinstance(human, dict) else str(human))
            labels.append(True)  # labellers wrote these as +1 steps
            continue
        elif options:
            pick = options[0]  # the first mistake (phase 2) or an unchosen alternative: the path ends here
        else:
            break
        if not isinstance(pick, dict) or not isinstance(pick.get("text"), str):
            raise DataError(
                where, line, f"step {index}: completion without a 'text' string", field="label.steps"
            )
        steps.append(pick["text"])
        labels.append(_rating_label(pick.get("rating"), neutral_as))
        if chosen is None:
            break
    if not steps or all(value is None for value in labels):
        return None
    return {
        "id": str(row.get("id") or f"prm800k/{line}"),
        "prompt": question["problem"],
        "completions": steps,
        "labels": labels,
        "answer": question.get("ground_truth_answer"),
        "meta": {"finish_reason": label.get("finish_reason"), "source": "prm800k"},
    }


# --------------------------------------------------------------------------------------- Math-Shepherd


def from_math_shepherd(row: Record, where: str, line: int | None) -> Record | None:
    """One Math-Shepherd row (``input`` with ``ки`` tags, ``label`` with ``+``/``-``) as a stepwise record."""
    text, tagged = row.get("input"), row.get("label")
    for name, value in (("input", text), ("label", tagged)):
        if not isinstance(value, str):
            raise DataError(where, line, "missing or not a string", field=name)
    first = _STEP_ONE.search(text)
    if first is None:
        raise DataError(where, line, "no 'Step 1:' marks where the solution starts", field="input")
    prompt, body = text[: first.start()].strip(), text[first.start() :]
    offset = first.start()
    pieces = body.split(SHEPHERD_TAG)
    steps, labels = [], []
    position = offset
    for k, piece in enumerate(pieces[:-1]):
        position += len(piece)
        at = position - k * (len(SHEPHERD_TAG) - 1)  # each earlier tag became one character
        mark = tagged[at] if at < len(tagged) else ""
        if not mark or mark not in "+-":
            raise DataError(
                where,
                line,
                f"step {k + 1}: expected '+' or '-' where 'input' has its tag, got {mark!r}",
                field="label",
            )
        steps.append(piece.strip())
        labels.append(mark == "+")
        position += len(SHEPHERD_TAG)
    if not steps:
        return None
    return {
        "id": str(row.get("id") or f"math-shepherd/{line}"),
        "prompt": prompt,
        "completions": steps,
        "labels": labels,
        "meta": {"task": row.get("task"), "source": "math-shepherd"},
    }


# ------------------------------------------------------------------------------------------- loading

Converter = Callable[[Record, str, int | None], Record | None]


def _converter(fmt: str, neutral_as: str) -> Converter:
    if fmt == "stepwise":
        return check_record
    if fmt == "prm800k":
        return lambda row, where, line: from_prm800k(row, where, line, neutral_as)
    if fmt == "math-shepherd":
        return from_math_shepherd
    raise ValueError(f"unknown stepwise format '{fmt}'; valid: {', '.join(FORMATS)}")


def detect_format(row: Record) -> str:
    """Guess a row's format from its keys (hub data sets come in all three)."""
    if "completions" in row and "labels" in row:
        return "stepwise"
    if "question" in row and "label" in row and isinstance(row.get("label"), dict):
        return "prm800k"
    if "input" in row and "label" in row:
        return "math-shepherd"
    raise ValueError(
        f"cannot tell the stepwise format from keys {sorted(row)}; set the format explicitly "
        f"({', '.join(FORMATS)})"
    )


def _rows(source: str, split: str) -> tuple[Iterator[tuple[int, Record]], str]:
    path = Path(source)
    if path.is_file():
        from wizardmath.data import local_rows  # JSONL, JSON or Parquet, rows numbered for errors

        return local_rows(path), str(path)
    from datasets import load_dataset

    rows = load_dataset(source, split=split)
    return ((number, dict(row)) for number, row in enumerate(rows, start=1)), f"{source}[{split}]"


def load_stepwise(
    source: str,
    fmt: str = "auto",
    split: str = "train",
    neutral_as: str = "positive",
    limit: int | None = None,
) -> list[Record]:
    """Read stepwise records from a local file or a hub data set, converting PRM800K / Math-Shepherd.

    ``fmt`` is ``auto`` (guess from the first row), ``stepwise``, ``prm800k`` or ``math-shepherd``.
    """
    if neutral_as not in ("positive", "negative"):
        raise ValueError(f"neutral_as must be 'positive' or 'negative', got {neutral_as!r}")
    rows, where = _rows(source, split)
    convert: Converter | None = None if fmt == "auto" else _converter(fmt, neutral_as)
    records: list[Record] = []
    for line, row in rows:
        if limit is not None and len(records) >= limit:
            break
        if convert is None:
            convert = _converter(detect_format(row), neutral_as)
        record = convert(row, where, line)
        if record is None:
            continue
        record = check_record(record, where, line)
        record.setdefault("id", f"{Path(where).stem}/{line}")
        records.append(record)
    if not records:
        raise DataError(where, None, "no usable stepwise records")
    return records
