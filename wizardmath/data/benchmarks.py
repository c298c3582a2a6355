"""Evaluation sets beyond GSM8k / MATH-500: where each lives on the hub, its fields and answer format.

``load_problems(name)`` reads any of these from the hub (``BENCHMARKS[name].hub``) or from a local copy
in the hub's own field layout (``data_path``). Each row becomes a ``MathProblem`` whose ``answer`` is
the bare gold answer the grader compares with the model's ``The answer is: X`` (or ``\\boxed{X}``).

| name          | hub (config, split)          | size  | fields read                 | gold answer         |
|---------------|------------------------------|-------|-----------------------------|---------------------|
| svamp         | ChilleD/SVAMP (test)         | 300   | Body + Question, Answer, ID | number (8.0 -> 8)   |
| asdiv         | EleutherAI/asdiv             | 2,305 | body + question, answer     | "9 (apples)" -> 9   |
|               | (asdiv, validation)          |       |                             |                     |
| aime24        | HuggingFaceH4/aime_2024      | 30    | problem, answer, id         | integer 0-999       |
|               | (train)                      |       |                             |                     |
| aime25        | math-ai/aime25 (test)        | 30    | problem, answer, id         | integer 0-999       |
| amc23         | math-ai/amc23 (test)         | 40    | question, answer            | number (27.0 -> 27) |
| minerva_math  | math-ai/minervamath (test)   | 272   | question, answer            | LaTeX expression    |
| olympiadbench | Hothan/OlympiadBench         | 675   | question, final_answer[0],  | LaTeX, $...$        |
|               | (OE_TO_maths_en_COMP, train) |       | id                          | stripped            |

Full MATH (5,000 test problems) is ``math`` in ``wizardmath.data.loaders`` (EleutherAI/hendrycks_math,
seven subjects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wizardmath.data.records import MathProblem
from wizardmath.jsonl import DataError


@dataclass(frozen=True)
class Benchmark:
    hub: str
    config: str | None
    split: str  # the hub split that holds the evaluation problems
    size: int
    problem_fields: tuple[str, ...]  # joined with a space (SVAMP and ASDiv split body and question)
    answer_field: str
    id_field: str | None = None


BENCHMARKS: dict[str, Benchmark] = {
    "svamp": Benchmark("ChilleD/SVAMP", None, "test", 300, ("Body", "Question"), "Answer", "ID"),
    "asdiv": Benchmark("EleutherAI/asdiv", "asdiv", "validation", 2305, ("body", "question"), "answer"),
    "aime24": Benchmark("HuggingFaceH4/aime_2024", None, "train", 30, ("problem",), "answer", "id"),
    "aime25": Benchmark("math-ai/aime25", None, "test", 30, ("problem",), "answer", "id"),
    "amc23": Benchmark("math-ai/amc23", None, "test", 40, ("question",), "answer", "id"),
    "minerva_math": Benchmark("math-ai/minervamath", None, "test", 272, ("question",), "answer"),
    "olympiadbench": Benchmark(
        "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train", 675, ("question",), "final_answer", "id"
    ),
}


def clean_answer(name: str, value: Any) -> str | None:
    """The bare gold answer of one row of benchmark ``name``."""
    if isinstance(value, list):  # OlympiadBench keeps a list of accepted forms; the first is canonical
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    if name == "asdiv":
        text = text.split(" (", 1)[0].strip()  # "9 (apples)": the unit is not part of the answer
    if len(text) >= 2 and text[0] == text[-1] == "$":
        text = text.strip("$").strip()
    if name in ("aime24", "aime25") and text.isdigit():
        text = str(int(text))  # "033" -> "33"
    return text or None


def normalise_row(
    name: str, row: dict[str, Any], default_id: str, where: str, line: int | None
) -> MathProblem:
    spec = BENCHMARKS[name]
    parts = []
    for field in spec.problem_fields:
        value = row.get(field)
        if not isinstance(value, str) or not value.strip():
            raise DataError(where, line, "missing or not a string", field=field)
        parts.append(value.strip())
    answer = clean_answer(name, row.get(spec.answer_field))
    if answer is None:
        raise DataError(where, line, "missing or empty answer", field=spec.answer_field)
    rid = row.get(spec.id_field) if spec.id_field else None
    return MathProblem(
        id=f"{name}/{rid}" if rid not in (None, "") else default_id,
        problem=" ".join(parts),
        answer=answer,
        source=name,
    )
