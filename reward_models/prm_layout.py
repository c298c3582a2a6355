"""The PRM data layout: how a stepwise record becomes token ids, step-end positions and targets.

Split from ``prm.py`` (the model, its trainer and scorer), which re-exports all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wizardmath.data import format_prompt

IGNORE = -100.0


@dataclass(frozen=True)
class StepFormat:
    """How steps are laid out around the prompt; saved in the model's config so scoring matches training."""

    template: str = "wizardmath"
    completion_prefix: str = " "
    step_separator: str = "\n"


def encode_steps(
    tokenizer: Any, prompt: str, steps: Sequence[str], fmt: StepFormat, max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """Token ids for ``prompt`` + steps, and the position of each step's separator (its last token).

    Pieces are tokenized one by one, so a separator is always its own token(s) whatever the text
    around it. Too long: the prompt is cut from the left first, then trailing steps are dropped (they
    get no position).
    """
    prompt_ids = tokenizer(format_prompt(prompt, fmt.template, tokenizer), add_special_tokens=True)[
        "input_ids"
    ]
    sep_ids = tokenizer(fmt.step_separator, add_special_tokens=False)["input_ids"]
    pieces = [
        tokenizer((fmt.completion_prefix if i == 0 else "") + step.strip(), add_special_tokens=False)[
            "input_ids"
        ]
        + sep_ids
        for i, step in enumerate(steps)
    ]
    if max_length is not None:
        body = sum(len(p) for p in pieces)
        overflow = len(prompt_ids) + body - max_length
        if overflow > 0:
            keep = max(len(prompt_ids) - overflow, min(len(prompt_ids), max_length // 4))
            prompt_ids = prompt_ids[len(prompt_ids) - keep :]
    ids, positions = list(prompt_ids), []
    for piece in pieces:
        if max_length is not None and len(ids) + len(piece) > max_length:
            break
        ids.extend(piece)
        positions.append(len(ids) - 1)
    return ids, positions


def step_targets(record: dict[str, Any], use_soft: bool) -> list[float]:
    """Per-step training targets in [0, 1], ``IGNORE`` where a step has no label."""
    soft = record.get("soft_labels") if use_soft else None
    out = []
    for i, label in enumerate(record["labels"]):
        if soft is not None and soft[i] is not None:
            out.append(float(soft[i]))
        else:
            out.append(IGNORE if label is None else float(label))
    return out


def encode_record(
    tokenizer: Any, record: dict[str, Any], fmt: StepFormat, max_length: int, use_soft: bool
) -> dict[str, list]:
    ids, positions = encode_steps(tokenizer, record["prompt"], record["completions"], fmt, max_length)
    labels = [IGNORE] * len(ids)
    for position, target in zip(positions, step_targets(record, use_soft), strict=False):
        labels[position] = target
    return {"input_ids": ids, "labels": labels}


@dataclass
class StepCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (``IGNORE``); builds the attention mask."""

    pad_token_id: int

    def __call__(self, features: list[dict[str, list]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.float)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(f["labels"], dtype=torch.float)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
