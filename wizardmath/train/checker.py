"""``wizardmath train-checker``: SFT of a causal LM on the world's arithmetic facts.

The step checker (``reward_models.step_checker``, where the facts and the scorer live) is a verifier
with a checking edge over the policy. Training it is plain SFT on prompt/completion facts, so this
module only writes the facts and hands over to ``train_sft``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reward_models.step_checker import write_facts
from wizardmath.train.sft import SFTConfig, train_sft


@dataclass
class CheckerConfig(SFTConfig):
    """``wizardmath train-checker``: SFT of a causal LM on the world's arithmetic facts.

    Every ``sft`` flag applies (``configs/tiny/checker.yaml`` sets a big batch for the short records).
    Without ``--data_path`` the facts are written to ``OUTPUT/facts.jsonl`` first.
    """

    max_value: int = field(
        default=99, metadata={"help": "Largest number in the facts (the symbolic world's max_value)."}
    )

    def __post_init__(self) -> None:
        if self.max_value < 1:
            raise ValueError(f"max_value must be >= 1, got {self.max_value}")
        if not self.data_path:
            if self.output_dir in (None, "", "trainer_output"):
                raise ValueError("train-checker needs --output DIR (the facts go to DIR/facts.jsonl)")
            self.data_path = str(Path(self.output_dir) / "facts.jsonl")
        super().__post_init__()


def train_checker(config: CheckerConfig) -> dict[str, Any]:
    """Write the facts (unless ``data_path`` names a file that exists) and train on them with SFT."""
    if not Path(config.data_path).exists():
        count = write_facts(config.data_path, config.max_value)
        print(f"train-checker: {count} facts (0..{config.max_value}) -> {config.data_path}")
    return train_sft(config)
