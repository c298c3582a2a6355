"""RLEIF reward models: the Instruction Reward Model (IRM) and the Process-supervised Reward Model (PRM).

``from reward_models import InstructionRewardModel, ProcessRewardModel`` loads trained models for
scoring; the classes (and torch) are imported on first use, so ``import reward_models`` stays light.

- ``irm_data`` / ``irm``: preference pairs from evolution output, ``train_irm``, ``InstructionRewardModel``.
- ``labelers`` / ``stepwise``: step labels (rule, Monte-Carlo, LLM judge; PRM800K, Math-Shepherd).
- ``prm``: ``train_prm``, ``ProcessRewardModel``, ``aggregate``.
- ``score``: the ``wizardmath score`` command.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "InstructionRewardModel": "reward_models.irm",
    "IRMConfig": "reward_models.irm",
    "train_irm": "reward_models.irm",
    "ProcessRewardModel": "reward_models.prm",
    "PRMConfig": "reward_models.prm",
    "train_prm": "reward_models.prm",
    "aggregate": "reward_models.prm",
    "LabelConfig": "reward_models.labelers",
    "label_prm": "reward_models.labelers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reward_models' has no attribute '{name}'")
