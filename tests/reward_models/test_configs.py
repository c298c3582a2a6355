"""The shipped reward-model configs load and validate (no training), and documented defaults hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from reward_models.irm import IRMConfig
from reward_models.labelers import LabelConfig
from reward_models.prm import PRMConfig
from wizardmath.config import load_config, read_yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _plain(value):
    """A config value as YAML would write it (enums by value)."""
    return getattr(value, "value", value)


@pytest.mark.parametrize(
    "cls, name",
    [
        (IRMConfig, "tiny/irm.yaml"),
        (PRMConfig, "tiny/prm.yaml"),
        (LabelConfig, "tiny/label_prm.yaml"),
        (IRMConfig, "llama2-7b/irm.yaml"),
        (PRMConfig, "llama2-7b/prm.yaml"),
        (LabelConfig, "llama2-7b/label_prm.yaml"),
    ],
)
def test_config_loads_every_key(cls, name):
    import torch

    overrides = {}
    if "llama2" in name and cls is not LabelConfig and not torch.cuda.is_available():
        overrides = {"bf16": False}  # bf16 needs a GPU; everything else validates on CPU
    written = read_yaml(CONFIGS / name)
    config = load_config(cls, CONFIGS / name, **overrides)
    for key, value in {**written, **overrides}.items():
        got = _plain(getattr(config, key))
        if key == "report_to" and isinstance(got, list):  # TrainingArguments keeps it as a list
            value = [] if value == "none" else [value]
            got = [v for v in got if v != "none"]
        assert got == value, f"{name}: {key} = {got!r}, the file says {value!r}"


def test_documented_defaults():
    prm = PRMConfig(model="m", output_dir="x")
    assert (prm.step_separator, prm.template, prm.data_format, prm.data_path) == (
        "\n",
        "auto",  # chat when the model has a chat template, else wizardmath
        "auto",
        "runs/prm_labels.jsonl",
    )
    irm = IRMConfig(model="m", output_dir="x", bf16=False)
    assert irm.judge == "symbolic" and irm.include_parent and irm.data_path == "runs/evolve"
    label = LabelConfig(solutions_path="s")
    assert (label.labeler, label.backend, label.judge_backend, label.output) == (
        "rule",
        "transformers",
        "openai",
        "runs/prm_labels.jsonl",
    )
    # one output root; the label-prm output is what train-prm reads by default
    assert (IRMConfig(model="m", bf16=False).output_dir, PRMConfig(model="m").output_dir) == (
        "runs/irm",
        "runs/prm",
    )


@pytest.mark.parametrize("cls", [IRMConfig, PRMConfig])
def test_trainers_need_a_model_and_resolve_bf16_off_on_cpu(cls, monkeypatch):
    with pytest.raises(ValueError, match="needs --model"):
        cls(output_dir="x")
    monkeypatch.setattr("wizardmath.args.bf16_supported", lambda: True)  # as on a bf16 GPU
    assert cls(model="m", output_dir="x", use_cpu=True).bf16 is False


def test_llm_irm_judge_needs_a_model():
    with pytest.raises(ValueError, match="judge_model"):
        IRMConfig(model="m", output_dir="x", judge="llm", bf16=False)


def test_labelers_registry_builds_the_chosen_labeller(monkeypatch):
    from reward_models.labelers import LABELERS, JudgeLabeler, MonteCarloLabeler, RuleLabeler

    calls = []
    monkeypatch.setattr(
        "wizardmath.backends.get_backend", lambda name, **kw: calls.append((name, kw)) or object()
    )
    config = LabelConfig(
        model="policy", data_path="p.jsonl", judge_model="judge", judge_base_url="http://j/v1", mc_rollouts=3
    )
    policy = lambda: config.build_backend(batch_size=2)  # noqa: E731
    assert isinstance(LABELERS["rule"](config, policy), RuleLabeler) and calls == []  # no backend for rule
    mc = LABELERS["mc"](config, policy)
    assert isinstance(mc, MonteCarloLabeler) and mc.sampling.n == 3
    assert calls[-1] == ("transformers", {"model": "policy", "batch_size": 2})
    assert isinstance(LABELERS["judge"](config, policy), JudgeLabeler)
    assert calls[-1] == (
        "openai",
        {"model": "judge", "base_url": "http://j/v1"},
    )  # the judge's own settings only
