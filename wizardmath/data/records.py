"""The record every stage passes around: one math problem and where it came from.

Fields (all JSON-serialisable; ``to_dict`` drops the ``None`` ones):

=============  ==========================================================================
``id``         stable unique id; loaders default to ``<dataset>/<split>/<index>``
``problem``    the problem text
``answer``     the final answer as a string (GSM8k: the ``####`` number without commas;
               MATH: the ``\\boxed{}`` content); ``None`` when unknown
``solution``   a worked solution, if any
``source``     the data set or backend it came from (``gsm8k``, ``math``, ``evol``, ...)
``level``      MATH difficulty 1-5 (``"Level 3"`` is read as 3)
``subject``    MATH subject (``type`` in the original files), e.g. ``Algebra``
``parent_id``  the record this one was evolved from (``None`` for seeds)
``round``      evolution round (0 for seeds)
``operation``  the evolution operation that produced it (``add_constraints``, ``downward``, ...)
``backend``    the generation backend that produced it
``meta``       anything else a stage wants to carry along
=============  ==========================================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from wizardmath.jsonl import DataError


@dataclass
class MathProblem:
    id: str
    problem: str
    answer: str | None = None
    solution: str | None = None
    source: str | None = None
    level: int | None = None
    subject: str | None = None
    parent_id: str | None = None
    round: int | None = None
    operation: str | None = None
    backend: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if not out.get("meta"):
            out.pop("meta", None)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "record", line: int | None = None) -> MathProblem:
        """Build from a JSON object; unknown keys go to ``meta``; errors name ``where``, line and field."""
        for name in ("id", "problem"):
            if data.get(name) in (None, ""):
                raise DataError(where, line, "missing or empty", field=name)
        if not isinstance(data["problem"], str):
            raise DataError(
                where, line, f"expected a string, got {type(data['problem']).__name__}", field="problem"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        kwargs["id"] = str(kwargs["id"])
        if kwargs.get("answer") is not None:
            kwargs["answer"] = str(kwargs["answer"])
        kwargs["level"] = parse_level(kwargs.get("level"), where, line)
        if kwargs.get("round") is not None and not isinstance(kwargs["round"], int):
            raise DataError(where, line, f"expected an integer, got {kwargs['round']!r}", field="round")
        kwargs["meta"] = {**(kwargs.get("meta") or {}), **extra}
        return cls(**kwargs)


def parse_level(value: Any, where: str = "record", line: int | None = None) -> int | None:
    """MATH levels come as ``3``, ``"3"`` or ``"Level 3"``; ``"Level ?"`` (a few MATH rows) is ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise DataError(where, line, f"expected a level 1-5, got {value!r}", field="level")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lower().startswith("level"):
        text = text[5:].strip()
    if text == "?":
        return None
    if text.isdigit():
        return int(text)
    raise DataError(where, line, f"expected a level like 3 or 'Level 3', got {value!r}", field="level")
