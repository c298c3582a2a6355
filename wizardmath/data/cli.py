"""``wizardmath data {show,stats,convert}``: look at a data set the way every stage will see it."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wizardmath.data.loaders import load_problems, save_problems
from wizardmath.data.records import MathProblem


@dataclass
class DataConfig:
    action: str = field(
        default="show",
        metadata={
            "help": (
                "show (print records), stats (counts), convert (write JSONL) or sft (the records' "
                "reference solutions as SFT rows, as `solve` writes them)."
            ),
            "choices": ["show", "stats", "convert", "sft"],
        },
    )
    dataset: str = field(
        default="gsm8k", metadata={"help": "gsm8k, math, math500, jsonl (a local file), or a hub name."}
    )
    data_path: str | None = field(
        default=None,
        metadata={"help": "Local file to read (JSONL, JSON or Parquet); without it, the hub copy."},
    )
    split: str = field(
        default="test", metadata={"help": "Split name, used for hub data and for default ids."}
    )
    limit: int | None = field(default=None, metadata={"help": "Read at most this many records."})
    field_map: str | None = field(
        default=None, metadata={"help": "Column names for a generic file: 'problem=question,answer=final'."}
    )
    output: str | None = field(default=None, metadata={"help": "convert, sft: the JSONL file to write."})
    template: str = field(
        default="auto",
        metadata={
            "help": "sft: prompt template of the rows (auto: chat when --model has a chat template).",
            "choices": ["auto", "wizardmath", "chat", "raw"],
        },
    )
    model: str | None = field(
        default=None, metadata={"help": "sft: the model the rows are for (decides template auto)."}
    )
    seed: int = field(default=0, metadata={"help": "Unused; accepted so shared flags work everywhere."})

    def __post_init__(self) -> None:
        if self.action in ("convert", "sft") and not self.output:
            raise ValueError(f"data {self.action} needs --output FILE.jsonl")

    def parsed_field_map(self) -> dict[str, str]:
        from wizardmath.data.loaders import parse_field_map

        return parse_field_map(self.field_map)


def data_command(config: DataConfig) -> int:
    problems = load_problems(
        config.dataset, config.data_path, config.split, config.limit, config.parsed_field_map()
    )
    if config.action == "show":
        for problem in problems:
            print(json.dumps(problem.to_dict(), ensure_ascii=False, indent=2))
    elif config.action == "stats":
        stats = {
            "records": len(problems),
            "with_answer": sum(p.answer is not None for p in problems),
            "levels": dict(sorted(Counter(p.level for p in problems if p.level is not None).items())),
            "subjects": dict(Counter(p.subject for p in problems if p.subject).most_common()),
        }
        print(json.dumps(stats, indent=2))
    elif config.action == "sft":
        from wizardmath.data.templates import template_for_model
        from wizardmath.jsonl import write_jsonl

        template = template_for_model(config.template, config.model)
        rows = [row for p in problems if (row := reference_sft_row(p, template)) is not None]
        if not rows:
            raise ValueError(
                f"{config.data_path or config.dataset}: no record has a reference solution and answer"
            )
        write_jsonl(config.output, rows)
        print(
            f"wrote {len(rows)} SFT rows ({template} template) of {len(problems)} records to {config.output}"
        )
    else:
        count = save_problems(config.output, problems)
        print(f"wrote {count} records to {config.output}")
    return 0


_CALCULATOR = re.compile(r"<<[^<>]{0,200}>>")  # GSM8k's calculator annotations: 48/2 = <<48/2=24>>24


def reference_sft_row(problem: MathProblem, template: str) -> dict[str, Any] | None:
    """A record's reference solution as one SFT row in ``solve``'s format: its lines as steps, GSM8k's
    calculator annotations and ``#### X`` line dropped, ending "The answer is: X"; None without a
    solution or answer."""
    from wizardmath.data.templates import build_prompt, format_solution

    if not problem.solution or problem.answer is None:
        return None
    lines = [_CALCULATOR.sub("", line).strip() for line in problem.solution.splitlines()]
    steps = [line for line in lines if line and not line.startswith("####")]
    if not steps:
        return None
    completion: Any = format_solution(steps, problem.answer)
    if template == "chat":
        completion = [{"role": "assistant", "content": completion.strip()}]
    return {
        "id": problem.id,
        "problem_id": problem.id,
        "problem": problem.problem,
        "prompt": build_prompt(problem.problem, template),
        "completion": completion,
        "answer": problem.answer,
        "source": problem.source or "reference",
    }
