"""The pipeline's configuration: its stages (``STAGE_TABLE``), ``PipelineConfig``, the stage config each
stage reads, and the check of them all before the first stage runs.

Split from ``pipeline.py`` (which runs the stages): a bad key, type or value in, say, the PPO config
fails in seconds, not after an hour of evolution and SFT.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
REWARD_MODELS = ("irm", "prm")  # the stages a PPO reward may need


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: the ``PipelineConfig`` key of the stage config it reads, the entry point
    that trains its model (``module:function``), the stages its model is built from, the file in the run
    folder that says it is done, and, for a PPO stage, its reward (``None``: the PPO config's)."""

    config_key: str
    entry: str
    upstream: tuple[str, ...]
    output: str
    ppo: bool = False
    rewards: tuple[str, ...] | None = None


def _ppo_stage(name: str, rewards: tuple[str, ...] | None = None) -> Stage:
    return Stage("ppo_config", "wizardmath.train.ppo:train_ppo", ("sft_evolved",), f"{name}/ppo_summary.json",
                 True, rewards)  # fmt: skip


# The one table the pipeline, its state (``pipeline_state``) and its checks read, in run order.
STAGE_TABLE: dict[str, Stage] = {
    "base": Stage("tiny_config", "wizardmath.tiny:init_tiny", (), "base/config.json"),
    "sft_seed": Stage("sft_config", "wizardmath.train.sft:train_sft", ("base",), "sft_seed/sft_summary.json"),
    "sft_evolved": Stage(
        "sft_config", "wizardmath.train.sft:train_sft", ("base",), "sft_evolved/sft_summary.json"
    ),
    "irm": Stage("irm_config", "reward_models.irm:train_irm", ("sft_evolved",), "irm/irm_summary.json"),
    "prm": Stage("prm_config", "reward_models.prm:train_prm", ("sft_evolved",), "prm/prm_summary.json"),
    "checker": Stage(
        "checker_config", "wizardmath.train.checker:train_checker", ("base",), "checker/sft_summary.json"
    ),
    # PPO runs by reward: the PPO config's (the verifier), the paper's r = r_IRM x r_PRM x verifier, a coin
    # (the control).
    "ppo": _ppo_stage("ppo"),
    "ppo_paper": _ppo_stage("ppo_paper", ("irm", "prm", "verifier")),
    "ppo_random": _ppo_stage("ppo_random", ("random",)),
}
STAGES = tuple(STAGE_TABLE)
DEFAULT_STAGES = ("base", "sft_seed", "sft_evolved", "irm", "prm", "ppo")
PPO_REWARDS = {name: list(s.rewards) if s.rewards else None for name, s in STAGE_TABLE.items() if s.ppo}


def stage_rewards(stage: str, config_rewards: Sequence[str]) -> list[str]:
    """A PPO stage's reward: its own in ``STAGE_TABLE``, else the PPO config's ``config_rewards``."""
    return list(STAGE_TABLE[stage].rewards or config_rewards)


def stage_upstream(stage: str, config_rewards: Callable[[], Sequence[str]]) -> list[str]:
    """The stages whose models ``stage``'s model is built from: the table's, and for a PPO stage the
    reward models its reward uses (``config_rewards`` gives the PPO config's, read only then)."""
    if not STAGE_TABLE[stage].ppo:
        return list(STAGE_TABLE[stage].upstream)
    rewards = stage_rewards(stage, config_rewards() if STAGE_TABLE[stage].rewards is None else ())
    return [*STAGE_TABLE[stage].upstream, *[m for m in REWARD_MODELS if m in rewards]]


def stage_entry(stage: str) -> Callable[[Any], Any]:
    """The function that trains ``stage``'s model (imported on use: the trainers need torch)."""
    module, _, name = STAGE_TABLE[stage].entry.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class PipelineConfig:
    output: str = field(
        default="runs/tiny", metadata={"help": "Folder for every stage's output and summary.json."}
    )
    seed: int = field(
        default=0, metadata={"help": "Seed passed to every stage (model init, evolution, training)."}
    )
    model: str = field(
        default="", metadata={"help": "Base model; empty builds the tiny model with init-tiny."}
    )
    tiny_config: str = field(
        default="", metadata={"help": "YAML for init-tiny (TinyConfig); empty = defaults."}
    )
    evolve_config: str = field(
        default="configs/tiny/evolve.yaml", metadata={"help": "YAML for the evolve stage."}
    )
    solve_config: str = field(
        default="configs/tiny/solve.yaml", metadata={"help": "YAML for the solve stage."}
    )
    sft_config: str = field(default="configs/tiny/sft.yaml", metadata={"help": "YAML for both SFT runs."})
    irm_config: str = field(default="configs/tiny/irm.yaml", metadata={"help": "YAML for train-irm."})
    prm_config: str = field(default="configs/tiny/prm.yaml", metadata={"help": "YAML for train-prm."})
    label_prm_config: str = field(
        default="configs/tiny/label_prm.yaml", metadata={"help": "YAML for label-prm."}
    )
    ppo_config: str = field(default="configs/tiny/ppo.yaml", metadata={"help": "YAML for ppo."})
    checker_config: str = field(
        default="configs/tiny/checker.yaml", metadata={"help": "YAML for train-checker."}
    )
    stages: list[str] = field(
        default_factory=lambda: list(DEFAULT_STAGES),
        metadata={"help": f"Stages to run: {', '.join(STAGES)}."},
    )
    test_size: int = field(default=300, metadata={"help": "Held-out symbolic test problems."})
    test_seed: int = field(
        default=1_000_003, metadata={"help": "Seed of the held-out test set (distinct from training seeds)."}
    )
    test_min_ops: int = field(default=1, metadata={"help": "Fewest arithmetic steps in a test problem."})
    test_max_ops: int = field(default=4, metadata={"help": "Most arithmetic steps in a test problem."})
    val_size: int = field(
        default=100,
        metadata={"help": "Validation problems (PPO picks its step on them; never the test set)."},
    )
    val_seed: int = field(default=2_000_003, metadata={"help": "Seed of the validation set."})
    sample_limit: int = field(
        default=100, metadata={"help": "Test problems for the sampled metrics and the style probe (0: none)."}
    )
    sample_k: int = field(
        default=8,
        metadata={"help": "Samples per problem for pass@1 (sampled), maj@k, pass@k and PRM best-of-k."},
    )
    sample_temperature: float = field(default=0.8, metadata={"help": "Temperature of those samples."})
    style_probe: str = field(
        default="auto",
        metadata={
            "help": "Style probe after sampling (P(terse) and entropy at the style token, accuracy per "
            "forced style): always, never, or auto = only when the solve config's teacher mixes styles "
            "(decomposed_share < 1), since the clean world has no style fork to probe."
        },
    )
    ppo_data: str = field(
        default="evolved",
        metadata={
            "help": "PPO's prompts: evolved (the SFT problems, as in the paper) or fresh (ppo_data_size "
            "new problems of the test set's kind, disjoint from test, validation and SFT problems)."
        },
    )
    ppo_data_size: int = field(default=3000, metadata={"help": "Fresh PPO problems (ppo_data: fresh)."})
    ppo_data_seed: int = field(default=3_000_003, metadata={"help": "Seed of the fresh PPO problems."})
    ppo_steps: int = field(default=0, metadata={"help": "PPO steps (0: the PPO config's)."})
    ppo_max_minutes: float = field(
        default=2.0, metadata={"help": "Wall-clock budget of the PPO stage (overrides the PPO config's)."}
    )
    parallel_reward_models: bool = field(
        default=True,
        metadata={
            "help": "Without a GPU, train the IRM and PRM in a second process (one torch thread each) "
            "while this one runs sft_seed and the PPO stages whose reward needs neither; false: one "
            "stage after another."
        },
    )
    eval_batch_size: int = field(default=64, metadata={"help": "Prompts per generate call in evaluation."})
    eval_max_new_tokens: int = field(
        default=128, metadata={"help": "Longest generated solution in evaluation."}
    )

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
        if self.test_size < 1:
            raise ValueError(f"test_size must be >= 1, got {self.test_size}")
        if self.ppo_steps < 0:
            raise ValueError(f"ppo_steps must be >= 0 (0: the PPO config's), got {self.ppo_steps}")
        if self.ppo_data not in ("evolved", "fresh"):
            raise ValueError(f"ppo_data must be evolved or fresh, got '{self.ppo_data}'")
        if self.style_probe not in ("auto", "always", "never"):
            raise ValueError(f"style_probe must be auto, always or never, got '{self.style_probe}'")
        for name in ("val_size", "sample_k", "ppo_data_size", "eval_batch_size", "eval_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.test_min_ops <= self.test_max_ops:
            raise ValueError(
                f"need 1 <= test_min_ops <= test_max_ops, got {self.test_min_ops} and {self.test_max_ops}"
            )
        if "checker" in self.stages and self.sample_limit < 1:
            raise ValueError(
                "the checker stage reranks the sampled metrics' samples: needs sample_limit >= 1"
            )


def config_contents(config: PipelineConfig) -> dict[str, dict]:
    """Each stage config file's keys and values as YAML reads them (comments and layout aside), so an
    edited file under the same path is seen; a file missing or unreadable here is left to
    ``validate_stage_configs`` to report."""
    from wizardmath.config import ConfigError, load_yaml

    contents = {}
    for key, _, _ in STAGE_CONFIGS:
        path = resolve(getattr(config, key)) if getattr(config, key) else None
        if path is not None and path.is_file():
            try:
                contents[key] = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
            except (ConfigError, UnicodeDecodeError):
                continue
    return contents


def check_resume(
    config: PipelineConfig, contents: dict[str, dict], previous: dict, summary_path: Path, finished: set[str]
) -> None:
    """Refuse to resume into ``summary_path``'s folder with settings (RESULT_SETTINGS) other than those
    its ``finished`` stages were run with, or with a stage config file whose ``contents``
    (config_contents) changed beneath a finished stage that read it. ``previous`` is what that file
    records. A stage not finished (its folder removed, say) may run with new settings."""
    from wizardmath.config import ConfigError

    before = previous.get("config", {})
    changed = [
        f"{key}: {before[key]!r} -> {getattr(config, key)!r}"
        for key, reaches in RESULT_SETTINGS.items()
        if key in before and before[key] != getattr(config, key) and finished & set(reaches)
    ]
    for key, reaches in CONFIG_REACHES.items():
        old, new = previous.get("config_contents", {}).get(key), contents.get(key)
        if old is not None and new is not None and old != new and finished & set(reaches):
            keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
            changed.append(f"{key} {getattr(config, key)} now differs in {', '.join(keys)}")
    if changed:
        raise ConfigError(
            f"{summary_path}: the stages there were run with other settings ({'; '.join(changed)}); "
            "use another --output, or the same settings to resume"
        )


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


# Settings that decide what a finished stage wrote (its data, model or reward), and the stages they
# reach ("evolve" and "solve": the data steps before SFT). A run that resumes into an output folder
# must keep those of its finished stages, or summary.json would report settings their results lack.
# The test and validation sets reach every stage: evolution is decontaminated against both. Stage
# config files are compared by contents (config_contents), not by path.
DATA_STEPS = ("evolve", "solve")
RESULT_SETTINGS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("seed", "model", "test_size", "test_seed", "test_min_ops", "test_max_ops", "val_size", "val_seed"),
        (*DATA_STEPS, *STAGES),
    ),
    **dict.fromkeys(
        ("ppo_data", "ppo_data_size", "ppo_data_seed", "ppo_steps", "ppo_max_minutes"), tuple(PPO_REWARDS)
    ),
}
# The stages a stage config file reaches, for the contents check.
_FEEDS = {"evolve_config": DATA_STEPS, "solve_config": ("solve",)}
CONFIG_REACHES = {key: (*_FEEDS.get(key, ()), *needed_by) for key, needed_by, _ in STAGE_CONFIGS}


def resolve(path: str) -> Path:
    """A config path as given, else relative to the repository (so the pipeline runs from anywhere)."""
    candidate = Path(path)
    return candidate if candidate.exists() or candidate.is_absolute() else REPO_ROOT / path


def validate_stage_configs(config: PipelineConfig) -> None:
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
            "irm_path": scratch,  # the reward models the run trains (check_ppo_rewards)
            "prm_path": scratch,
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
                loaded = load_config(cls, resolve(path), **overrides)
            except ConfigError as err:
                raise ConfigError(f"{key}: {err}") from None
            if key == "ppo_config":
                check_ppo_rewards(config, list(loaded.reward_funcs))


def check_ppo_rewards(config: PipelineConfig, config_rewards: list[str]) -> None:
    """Each wanted PPO stage's reward (its own in PPO_REWARDS, else the PPO config's
    ``config_rewards``) may use only reward models the run trains."""
    from wizardmath.config import ConfigError

    for stage in [s for s in PPO_REWARDS if s in config.stages]:
        rewards = stage_rewards(stage, config_rewards)
        source = "" if STAGE_TABLE[stage].rewards else f", reward_funcs in ppo_config {config.ppo_config}"
        missing = [name for name in REWARD_MODELS if name in rewards and name not in config.stages]
        if missing:
            raise ConfigError(
                f"stages: {stage}'s reward ({' x '.join(rewards)}{source}) needs the {', '.join(missing)} "
                "stage(s); add them to --stages"
            )
