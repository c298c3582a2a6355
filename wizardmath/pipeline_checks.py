"""The pipeline's stages, the config each reads, and the check of them all before the first runs.

Split from ``pipeline.py``: a bad key, type or value in, say, the PPO config fails in seconds, not
after an hour of evolution and SFT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("base", "sft_seed", "sft_evolved", "irm", "prm", "checker", "ppo", "ppo_paper", "ppo_random")

# Stage configs the pipeline reads, the stages that need each, and where the class lives.
STAGE_CONFIGS = (
    ("tiny_config", STAGES, "wizardmath.tiny:TinyConfig"),
    ("evolve_config", STAGES[1:], "wizardmath.evol:EvolveConfig"),
    ("solve_config", STAGES[1:], "wizardmath.evol:SolveConfig"),
    ("sft_config", STAGES[1:], "wizardmath.train.sft:SFTConfig"),
    ("irm_config", ("irm", "ppo_paper"), "reward_models.irm:IRMConfig"),
    ("label_prm_config", ("prm", "ppo_paper"), "reward_models.labelers:LabelConfig"),
    ("prm_config", ("prm", "ppo_paper"), "reward_models.prm:PRMConfig"),
    ("ppo_config", ("ppo", "ppo_paper", "ppo_random"), "wizardmath.train.ppo:PPOConfig"),
    ("checker_config", ("checker",), "wizardmath.train.checker:CheckerConfig"),
)


def resolve(path: str) -> Path:
    """A config path as given, else relative to the repository (so the pipeline runs from anywhere)."""
    candidate = Path(path)
    return candidate if candidate.exists() or candidate.is_absolute() else REPO_ROOT / path


def validate_stage_configs(config: Any) -> None:
    """Build every stage config the run will need before the first stage runs, so a bad key, type or
    value in, say, the PPO config fails in seconds, not after an hour of evolution and SFT.

    The paths a stage gets from the stages before it (model, data) are stand-ins here."""
    import importlib
    import tempfile

    from wizardmath.config import ConfigError, load_config

    wanted = set(config.stages)
    with tempfile.TemporaryDirectory() as scratch:
        stand_ins = {
            "model": scratch,
            "data_path": str(Path(scratch) / "data.jsonl"),
            "output": scratch,
            "output_dir": scratch,
            "seed": config.seed,
        }
        for key, needed_by, target in STAGE_CONFIGS:
            path = getattr(config, key)
            if not path or not wanted & set(needed_by) or (key == "tiny_config" and config.model):
                continue
            module, name = target.split(":")
            cls = getattr(importlib.import_module(module), name)
            fields = {f for f in getattr(cls, "__dataclass_fields__", {})}
            overrides = {k: v for k, v in stand_ins.items() if k in fields}
            if key == "evolve_config":
                overrides.pop("data_path", None)  # a list there, and the seeds come from the YAML
            try:
                load_config(cls, resolve(path), **overrides)
            except ConfigError as err:
                raise ConfigError(f"{key}: {err}") from None
