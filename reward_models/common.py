"""Small helpers the IRM and PRM share: pad tokens, held-out splits, AUC, step splitting, the summary."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def write_summary(
    command: str, output_dir: str, name: str, summary: dict[str, Any], start: float, shown: Sequence[str]
) -> dict[str, Any]:
    """The end of ``train-irm`` / ``train-prm``: the wall time since ``start`` into ``summary``, which is
    written to ``output_dir/name``, and one line with its ``shown`` keys. Returns ``summary``."""
    from pathlib import Path

    from wizardmath.jsonl import write_json

    summary["seconds"] = round(time.perf_counter() - start, 1)
    write_json(Path(output_dir) / name, summary)
    values = {k: summary[k] for k in shown if k in summary}
    print(f"{command}: saved to {output_dir}: {values}")
    return summary


def ensure_pad_token(tokenizer: Any, model: Any = None) -> None:
    """Sequence/token classification needs a pad token; fall back to EOS (LLaMA-2 ships none)."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                "the tokenizer has neither a pad nor an eos token; add one before training a reward model"
            )
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None:
        model.config.pad_token_id = tokenizer.pad_token_id


def held_out(key: str, fraction: float, salt: str = "eval") -> bool:
    """Deterministic split by a stable hash of ``key``: the same problem is always on the same side."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_held_out(items: Sequence[T], key: Callable[[T], str], fraction: float) -> tuple[list[T], list[T]]:
    train, held = [], []
    for item in items:
        (held if held_out(key(item), fraction) else train).append(item)
    return train, held


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half). ``nan`` with one class only."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    positives = sum(1 for _, y in pairs if y)
    negatives = len(pairs) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2  # 1-based ranks i+1..j share their mean
        rank_sum += mean_rank * sum(1 for _, y in pairs[i:j] if y)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def split_solution(solution: str) -> list[str]:
    """Steps of a solution, by the verifier's ``split_steps`` (one definition of a step everywhere)."""
    from wizardmath.verify import split_steps

    steps = []
    for item in split_steps(solution):
        text = item if isinstance(item, str) else getattr(item, "text", str(item))
        if text.strip():
            steps.append(text.strip())
    return steps


def default_device(device: str | None = None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
