"""Which rollouts a PPO step learns from, and which policy a run keeps.

- ``edge_groups``: DAPO-style dynamic sampling. A group (the samples of one prompt) that is all right or
  all wrong has no within-group contrast: under group-normalised advantages it contributes nothing but
  compute. Keeping the groups at the edge of competence (some, not all, correct), plus a share of the
  all-correct ones (so easy problems stay in the KL's view), spends the update on signal.
- ``BestPolicy``: the policy at the step with the best validation accuracy (step 0, the starting
  policy, included), so the step count is chosen on a validation split, never on the test set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

Gather = Callable[[], AbstractContextManager]


def edge_groups(
    correct: torch.Tensor, group_size: int, keep_easy: float, generator: torch.Generator
) -> torch.Tensor:
    """Row indices of the kept groups (rows ``[k*group_size, (k+1)*group_size)`` are one prompt's samples).

    ``correct`` is ``(batch,)`` raw correctness (0/1); mixed groups are kept, all-correct ones with
    probability ``keep_easy``, all-wrong ones never.
    """
    if correct.numel() % group_size:
        raise ValueError(f"batch of {correct.numel()} is not a multiple of the group size {group_size}")
    if not 0.0 <= keep_easy <= 1.0:
        raise ValueError(f"keep_easy must be in [0, 1], got {keep_easy}")
    rate = correct.float().view(-1, group_size).mean(-1)
    mixed = (rate > 0) & (rate < 1)
    easy = (rate >= 1) & (torch.rand(rate.shape, generator=generator) < keep_easy)
    groups = torch.nonzero(mixed | easy).flatten()
    return (groups[:, None] * group_size + torch.arange(group_size)).flatten()


@dataclass
class BestPolicy:
    """Keeps a CPU copy of the policy's weights whenever validation accuracy beats the best so far."""

    accuracy: float = float("-inf")
    step: int = -1
    state: dict[str, Any] | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)

    def offer(
        self, step: int, accuracy: float, policy: torch.nn.Module, gather: Gather = nullcontext
    ) -> bool:
        """Keep ``policy``'s weights if ``accuracy`` is the best yet. ``gather`` makes them whole while
        they are copied (DeepSpeed ZeRO-3 shards them: a plain copy would keep empty tensors)."""
        self.curve.append((step, accuracy))
        if accuracy != accuracy or accuracy <= self.accuracy:  # NaN (no validation set) or not better
            return False
        self.accuracy, self.step = accuracy, step
        with gather():
            self.state = {
                k: v.detach().to("cpu", copy=True) for k, v in copy.copy(policy.state_dict()).items()
            }
        return True

    def restore(self, policy: torch.nn.Module, gather: Gather = nullcontext) -> None:
        """Load the kept weights; under ZeRO-3 ``gather`` must keep the change (``modifier_rank``)."""
        if self.state is not None:
            with gather():
                policy.load_state_dict(self.state)

    def record(self) -> dict[str, Any]:
        """What a checkpoint stores besides the weights: the best step, its accuracy and the curve."""
        return {"step": self.step, "accuracy": self.accuracy, "curve": [list(p) for p in self.curve]}

    def load_record(self, record: dict[str, Any], weights: dict[str, Any] | None) -> None:
        """The state ``record()`` saved, with the best step's policy ``weights`` (``None``: none yet)."""
        self.step, self.accuracy = int(record["step"]), float(record["accuracy"])
        self.curve = [(int(step), float(accuracy)) for step, accuracy in record["curve"]]
        self.state = weights
