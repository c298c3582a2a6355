"""Helpers shared by the eval tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

import json
from pathlib import Path


def write_completions(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for rid, text in rows:
            handle.write(json.dumps({"id": rid, "completion": text}) + "\n")
    return path


def gsm8k_gold_text(solution: str) -> str:
    """A GSM8k worked answer rewritten in the WizardMath format: ``#### N`` -> ``The answer is: N``."""
    body, final = solution.rsplit("####", 1)
    return f"{body.rstrip()}\nThe answer is: {final.strip()}"
