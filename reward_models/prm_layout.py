"""The PRM data layout: how a stepwise record becomes token ids, step-end positions and targets.

Split from ``prm.py`` (the model, its trainer and scorer), which re-exports all of it. The optional
ranking loss adds a group index (which problem a record solves), a solution outcome and
``GroupBatchSampler``, which keeps each problem's samples in one batch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
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


def group_key(record: dict[str, Any]) -> str:
    """The problem a record solves: ``meta.parent_id`` (samples of one problem share it), else the prompt."""
    parent = (record.get("meta") or {}).get("parent_id")
    return str(parent) if parent is not None else record["prompt"]


def solution_outcome(record: dict[str, Any]) -> int:
    """1: every step label is true; 0: a step is false; -1: neither (unlabelled steps): left out of pairs."""
    labels = record["labels"]
    if any(label is False for label in labels):
        return 0
    return 1 if labels and all(label is True for label in labels) else -1


class GroupBatchSampler:
    """Batches of whole groups (one problem's samples) in a seeded shuffled group order.

    The ranking loss compares samples of one problem, so they must share a batch. Every batch takes
    the same number of groups (``batch_size`` / mean group size, at least 1), so the number of batches
    is the same every epoch, as the Trainer's step count needs; ``set_epoch`` (called by the Trainer)
    reshuffles, reproducibly from ``seed``, which keeps resumed runs on the same order.
    """

    def __init__(self, groups: Sequence[int], batch_size: int, seed: int = 0):
        members: dict[int, list[int]] = {}
        for index, group in enumerate(groups):
            members.setdefault(group, []).append(index)
        self.groups = list(members.values())
        self.groups_per_batch = max(1, round(batch_size * len(self.groups) / max(len(groups), 1)))
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.groups) / self.groups_per_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.groups)))
        random.Random(f"{self.seed}/{self.epoch}").shuffle(order)
        for begin in range(0, len(order), self.groups_per_batch):
            yield [i for g in order[begin : begin + self.groups_per_batch] for i in self.groups[g]]


@dataclass
class StepCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (``IGNORE``); builds the attention mask.

    Records with ``group`` and ``outcome`` (the ranking loss) also get those as ``(batch,)`` tensors.
    """

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
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        for key in ("group", "outcome"):
            if key in features[0]:
                batch[key] = torch.tensor([f[key] for f in features], dtype=torch.long)
        return batch
