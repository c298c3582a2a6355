"""``wizardmath data {show,stats,convert}``: look at a data set the way every stage will see it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from wizardmath.data.loaders import load_problems, save_problems


@dataclass
class DataConfig:
    action: str = field(
        default="show",
        metadata={
            "help": "show (print records), stats (counts) or convert (write JSONL).",
            "choices": ["show", "stats", "convert"],
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
    output: str | None = field(default=None, metadata={"help": "convert: the JSONL file to write."})
    seed: int = field(default=0, metadata={"help": "Unused; accepted so shared flags work everywhere."})

    def __post_init__(self) -> None:
        if self.action == "convert" and not self.output:
            raise ValueError("data convert needs --output FILE.jsonl")

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
    else:
        count = save_problems(config.output, problems)
        print(f"wrote {count} records to {config.output}")
    return 0
