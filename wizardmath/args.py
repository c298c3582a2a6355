"""Argument groups every stage config is composed of (as TRL composes ``ModelConfig``).

A stage config is a dataclass that inherits the groups it needs, so YAML keys, ``--flags`` and
``HfArgumentParser`` see one flat set of fields, and a field means the same in every stage::

    @dataclass
    class SFTConfig(ModelArguments, ReportArguments, trl.SFTConfig): ...

- ``ModelArguments``: the model to load, its dtype and mixed precision (resolved once, honouring
  ``use_cpu``), and LoRA with one ``to_peft_config()``.
- ``BackendArguments`` and ``JudgeArguments``: the generation backend and an LLM judge, both built by
  the one ``build_backend()``.
- ``ReportArguments``: ``report_to`` with wandb offline unless ``WANDB_MODE`` says otherwise.
- ``RunArguments``: the run contract of every trainer (``sft``, ``grpo``, ``ppo``, ``train-irm``,
  ``train-prm``): ``resume`` (``auto | never | last | PATH``) and ``overwrite``, resolved by the one
  ``wizardmath.resume.start_run``; each trainer's ``output_dir`` is the folder they apply to.

Shared meanings: ``model`` unset (``None``) means "not given" (a stage that needs one says which flag
to set); ``limit`` unset means all, and a set limit is >= 1; outputs default to a folder under
``RUNS_ROOT`` (``default_output``). Put a group *before* a third-party base (``trl.SFTConfig``) so
its defaults win over that base's fields of the same name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

RUNS_ROOT = "runs"  # every stage writes under here unless told otherwise
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DTYPES = ("auto", "bfloat16", "float16", "float32")


def default_output(stage: str) -> str:
    """The default output folder (or file stem) of ``stage``: ``runs/<stage>``."""
    return f"{RUNS_ROOT}/{stage}"


def check_limit(limit: int | None, name: str = "limit") -> None:
    """One meaning for every ``limit``-like field: ``None`` = all, else at least 1."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name} must be >= 1 (or unset for all), got {limit!r}")


# ----------------------------------------------------------------------------------------- model


def bf16_supported() -> bool:
    """A CUDA GPU with native bf16 is visible."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_bf16(bf16: bool | None, use_cpu: bool = False) -> bool:
    """Mixed precision: ``None`` means on where the GPU has bf16 and the run is not forced to the CPU."""
    if bf16 is not None:
        return bool(bf16)
    return not use_cpu and bf16_supported()


def resolve_dtype(torch_dtype: str = "auto", use_cpu: bool = False) -> Any:
    """The ``torch.dtype`` to load training weights in: ``auto`` is bf16 where supported (and not
    ``use_cpu``), else fp32."""
    import torch

    if torch_dtype not in DTYPES:
        raise ValueError(f"unknown torch_dtype '{torch_dtype}'; valid: {', '.join(DTYPES)}")
    if torch_dtype == "auto":
        return torch.bfloat16 if resolve_bf16(None, use_cpu) else torch.float32
    return getattr(torch, torch_dtype)


@dataclass
class ModelArguments:
    """The model a stage loads and trains: path, dtype, mixed precision, LoRA."""

    model: str | None = field(
        default=None,
        metadata={"help": "Model: a local folder (save_pretrained, `wizardmath init-tiny`) or a hub name."},
    )
    torch_dtype: str = field(
        default="auto",
        metadata={
            "help": "Weights dtype: auto (bf16 on GPUs that have it, else fp32), bfloat16, float16, float32."
        },
    )
    bf16: bool | None = field(
        default=None,
        metadata={"help": "bf16 mixed precision; default: on where the GPU supports it and use_cpu is off."},
    )
    use_cpu: bool = field(
        default=False, metadata={"help": "Run on the CPU even when a GPU is visible (no bf16 then)."}
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow model code from the hub (only for models you trust)."}
    )
    use_lora: bool = field(
        default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights; merged on save."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(LORA_MODULES), metadata={"help": "Modules that get LoRA adapters."}
    )

    def __post_init__(self) -> None:
        if self.torch_dtype not in DTYPES:
            raise ValueError(f"unknown torch_dtype '{self.torch_dtype}'; valid: {', '.join(DTYPES)}")
        self.bf16 = resolve_bf16(self.bf16, self.use_cpu)
        parent = getattr(super(), "__post_init__", None)  # cooperative: TrainingArguments comes after us
        if parent is not None:
            parent()

    def load_dtype(self) -> Any:
        """The ``torch.dtype`` for ``from_pretrained``."""
        return resolve_dtype(self.torch_dtype, self.use_cpu)

    def to_peft_config(self, task_type: str = "CAUSAL_LM") -> Any:
        """peft's ``LoraConfig`` from the LoRA fields, or ``None`` when ``use_lora`` is off."""
        if not self.use_lora:
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(self.lora_target_modules),
            task_type=task_type,
        )


# --------------------------------------------------------------------------------------- backends


def parse_backend_args(args: list[str]) -> dict[str, Any]:
    """``["concurrency=64", "error_rate=0.1"]`` -> ``{"concurrency": 64, "error_rate": 0.1}``
    (values read as YAML, ``1e-3`` a number)."""
    from wizardmath.config import load_yaml

    out: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"backend argument {arg!r} must look like key=value")
        out[key.strip().replace("-", "_")] = load_yaml(value, f"backend argument {arg!r}")
    return out


def build_backend(
    name: str,
    model: str | None = "",
    base_url: str | None = "",
    args: list[str] | None = None,
    seed: int | None = None,
    **defaults: Any,
) -> Any:
    """The one way a backend is built from settings: ``args`` (``key=value``) first, then the model,
    server URL, seed (symbolic only) and the stage's ``defaults`` where ``args`` did not set them."""
    from wizardmath.backends import get_backend

    kwargs = parse_backend_args(list(args or []))
    if model:
        kwargs.setdefault("model", model)
    if base_url:
        kwargs.setdefault("base_url", base_url)
    if name == "symbolic" and seed is not None:
        kwargs.setdefault("seed", seed)
    for key, value in defaults.items():
        kwargs.setdefault(key, value)
    return get_backend(name, **kwargs)


@dataclass
class JudgeArguments:
    """An LLM judge: its backend ('' = the stage's own backend), model and server."""

    judge_backend: str = field(
        default="", metadata={"help": "Backend of the judge ('' = the stage's backend)."}
    )
    judge_model: str | None = field(
        default=None,
        metadata={"help": "Model of the judge (unset: the stage's model when the backend is the same)."},
    )
    judge_base_url: str | None = field(
        default=None,
        metadata={
            "help": (
                "OpenAI-compatible server of the judge (unset: the stage's, when the backend is the same)."
            )
        },
    )

    def build_judge(self, **defaults: Any) -> Any:
        """The judge's backend; in a stage with ``BackendArguments`` too, an unset or equal
        ``judge_backend`` shares that backend's settings (see ``BackendArguments.build_backend``)."""
        if isinstance(self, BackendArguments):
            return self.build_backend(
                self.judge_backend or None, self.judge_model, self.judge_base_url, **defaults
            )
        if not self.judge_backend:
            raise ValueError("set --judge_backend (e.g. openai) for the judge")
        return build_backend(self.judge_backend, self.judge_model, self.judge_base_url, **defaults)


@dataclass
class BackendArguments:
    """The generation backend a stage talks to."""

    backend: str = field(
        default="symbolic",
        metadata={"help": "Generation backend: openai, transformers, vllm, symbolic or fake."},
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Model name (openai) or path (transformers, vllm); unused by symbolic."},
    )
    base_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible server URL, e.g. http://localhost:8000/v1."}
    )
    backend_args: list[str] = field(
        default_factory=list,
        metadata={
            "help": (
                "Extra backend arguments as key=value (values read as YAML), e.g. concurrency=64 "
                "error_rate=0.1."
            )
        },
    )

    @property
    def backend_name(self) -> str:
        """The backend ``backend`` stands for (a stage with an ``auto`` choice resolves it here)."""
        return self.backend

    def build_backend(
        self, name: str | None = None, model: str | None = None, base_url: str | None = None, **defaults: Any
    ) -> Any:
        """The stage's backend, or another one (``name``, e.g. a judge or solver): a different backend
        does not inherit this one's server URL and ``backend_args``, nor its model."""
        same = not name or name == self.backend_name
        return build_backend(
            name or self.backend_name,
            model or (self.model if same else None),
            base_url or (self.base_url if same else None),
            self.backend_args if same else [],
            getattr(self, "seed", None),
            **defaults,
        )


# -------------------------------------------------------------------------------------- reporting


def report_targets(report_to: str | list[str] | None) -> list[str]:
    """``report_to`` as a list; ``none`` (or unset) is empty."""
    if report_to is None:
        return []
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    return [n for n in names if n and n != "none"]


@dataclass
class ReportArguments:
    """Where metrics go: wandb runs offline (``wandb sync`` later) unless ``WANDB_MODE`` says otherwise."""

    report_to: str | list[str] = field(
        default="none", metadata={"help": "none, wandb (offline unless WANDB_MODE=online), tensorboard, ..."}
    )
    wandb_project: str = field(
        default="wizardmath", metadata={"help": "wandb project (unless WANDB_PROJECT is set)."}
    )

    def setup_reporting(self) -> list[str]:
        """Prepare the trackers' environment before any of them starts; returns the targets."""
        targets = report_targets(self.report_to)
        if "wandb" in targets or "all" in targets:
            os.environ.setdefault("WANDB_MODE", "offline")
            os.environ.setdefault("WANDB_PROJECT", self.wandb_project)
        return targets


@dataclass
class RunArguments:
    """Whether a trainer resumes from a checkpoint in its ``output_dir`` or starts clean.

    ``auto_resume`` (sft, grpo) and, in the Trainer-based configs, ``resume_from_checkpoint`` are the
    older spellings, kept as aliases for one release: ``auto_resume false`` is ``resume never``;
    ``resume_from_checkpoint`` takes ``no`` (never), ``last`` or a path; ppo's ``resume true/false`` is
    ``auto``/``never``."""

    # What a config file may give beyond the field types (ppo's older `resume: true/false`).
    CONFIG_TYPES: ClassVar[dict[str, Any]] = {"resume": str | bool}

    resume: str = field(
        default="auto",
        metadata={
            "help": (
                "auto: resume from the last complete checkpoint in output_dir when there is one; never: "
                "start fresh (refused while checkpoints of an earlier run exist, unless --overwrite true); "
                "last: resume from the last checkpoint, refused when there is none; or a checkpoint folder."
            ),
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": (
                "Delete the checkpoints of an earlier run in output_dir and start fresh (a fresh start is "
                "refused while they exist)."
            )
        },
    )
    auto_resume: bool | None = field(
        default=None, metadata={"help": "Older spelling: --auto_resume false is --resume never."}
    )


__all__ = [
    "DTYPES",
    "RUNS_ROOT",
    "BackendArguments",
    "JudgeArguments",
    "ModelArguments",
    "ReportArguments",
    "RunArguments",
    "bf16_supported",
    "build_backend",
    "check_limit",
    "default_output",
    "parse_backend_args",
    "report_targets",
    "resolve_bf16",
    "resolve_dtype",
]
