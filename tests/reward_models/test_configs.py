"""The shipped reward-model configs load and validate (no training), and documented defaults hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from reward_models.irm import IRMConfig
from reward_models.labelers import LabelConfig
from reward_models.prm import PRMConfig
from wizardmath.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    "cls, name",
    [(IRMConfig, "tiny/irm.yaml"), (PRMConfig, "tiny/prm.yaml"), (LabelConfig, "tiny/label_prm.yaml"),
     (IRMConfig, "llama2-7b/irm.yaml"), (PRMConfig, "llama2-7b/prm.yaml")],
)
def test_config_loads(cls, name):
    import torch

    overrides = {}
    if "llama2" in name and not torch.cuda.is_available():
        overrides = {"bf16": False}  # bf16 needs a GPU; everything else validates on CPU
    config = load_config(cls, CONFIGS / name, **overrides)
    assert isinstance(config, cls)


def test_documented_defaults():
    prm = PRMConfig(output_dir="x")
    assert (prm.step_separator, prm.template, prm.data_format) == ("\n", "wizardmath", "auto")
    irm = IRMConfig(output_dir="x", bf16=False)
    assert irm.judge == "symbolic" and irm.include_parent
    assert LabelConfig(solutions_path="s").labeler == "rule"


def test_llm_irm_judge_needs_a_model():
    with pytest.raises(ValueError, match="judge_model"):
        IRMConfig(output_dir="x", judge="llm", bf16=False)
