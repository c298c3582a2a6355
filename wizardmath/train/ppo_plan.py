"""The PPO dry run's per-GPU memory plan: weights, gradients and optimizer states by ZeRO stage.

``PPOPlanConfig`` is what ``wizardmath ppo`` parses: the trainer's ``PPOConfig`` plus the plan's own keys
(how many GPUs, which ZeRO stage), which the recipes' YAML files carry; ``ppo_command`` prints the plan
with ``--dry_run true`` and trains otherwise.

Read from a local ``config.json`` or, for the recipes' base models, from their published shapes, so a 70B
plan needs no download and no GPU: ``wizardmath ppo --config configs/llama2-70b/ppo.yaml --dry_run true``.
Every process also holds a full copy of the IRM and PRM it is rewarded with (``reward_funcs``); their
size comes from their own ``config.json``, else from a size in their path, else the policy's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardmath.train.ppo_config import PPOConfig


@dataclass
class PPOPlanConfig(PPOConfig):
    """``PPOConfig`` plus the keys of the memory plan alone (a real run takes its GPUs from accelerate)."""

    dry_run: bool = field(
        default=False, metadata={"help": "Print the per-GPU memory plan from the model config and exit."}
    )
    num_gpus: int = field(
        default=1, metadata={"help": "dry_run: GPUs to plan for (a real run takes them from accelerate)."}
    )
    zero_stage: int = field(default=0, metadata={"help": "dry_run: DeepSpeed ZeRO stage to plan for (0-3)."})
    offload_optimizer: bool = field(
        default=False, metadata={"help": "dry_run: optimizer states offloaded to CPU."}
    )

    def __post_init__(self) -> None:
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0-3, got {self.zero_stage}")
        super().__post_init__()

    def check_run(self) -> None:
        if not self.dry_run:  # a plan needs no output folder or problems
            super().check_run()


def _shape(
    hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, **extra: Any
) -> dict[str, Any]:
    return {
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        **extra,
    }


# LLaMA-2 shapes (Touvron et al. 2023, Table 1 and the released configs), for planning without downloads.
LLAMA2_SHAPES = {
    "7b": _shape(4096, 11008, 32, 32, 32),
    "13b": _shape(5120, 13824, 40, 40, 40),
    "70b": _shape(8192, 28672, 80, 64, 8),
}

# The other recipes' base models (their released config.json files), matched by a name fragment.
OTHER_SHAPES = {
    "qwen2.5-math-1.5b": _shape(1536, 8960, 28, 12, 2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-7b": _shape(3584, 18944, 28, 28, 4, vocab_size=152064, tie_word_embeddings=False),
    "llama-3.1-8b": _shape(4096, 14336, 32, 32, 8, vocab_size=128256, tie_word_embeddings=False),
    "mistral-7b": _shape(4096, 14336, 32, 32, 8, vocab_size=32000, tie_word_embeddings=False),
    "smollm2-135m": _shape(576, 1536, 30, 9, 3, vocab_size=49152, tie_word_embeddings=True),
}
# Spellings of those names in run folders (runs/qwen-math-1.5b/sft, runs/llama3-8b/ppo, ...).
NAME_FRAGMENTS = {
    "qwen-math-1.5b": "qwen2.5-math-1.5b",
    "qwen-7b": "qwen2.5-7b",
    "llama3-8b": "llama-3.1-8b",
    "llama3.1-8b": "llama-3.1-8b",
    "mistral": "mistral-7b",
    "smol": "smollm2-135m",
}


def shape_from_name(name: str) -> dict[str, Any] | None:
    """Published shape for a name that mentions a recipe's model; the last path part that does wins."""
    for part in reversed(name.lower().split("/")):
        for fragment, key in [*((k, k) for k in OTHER_SHAPES), *NAME_FRAGMENTS.items()]:
            if fragment in part:
                return dict(OTHER_SHAPES[key])
        match = re.search(r"(?<![0-9.])(7|13|70)b", part)
        if match:
            return {**LLAMA2_SHAPES[match.group(1) + "b"], "vocab_size": 32000, "tie_word_embeddings": False}
    return None


def model_shape(name: str) -> dict[str, Any]:
    """Shape fields from a local ``config.json``, else the published shape named in ``name``."""
    config_file = Path(name) / "config.json"
    if config_file.is_file():
        return json.loads(config_file.read_text())
    shape = shape_from_name(name)
    if shape is None:
        raise ValueError(
            f"dry_run needs a local model folder with config.json, or a LLaMA-2 name with "
            f"7b/13b/70b "
            f"or one of {', '.join(OTHER_SHAPES)}: got '{name}'"
        )
    return shape


def reward_model_rows(config: PPOPlanConfig, policy_shape: dict[str, Any]) -> list[tuple[str, float]]:
    """Per-GPU bytes of the IRM and PRM weights: each process loads both whole (bf16, as DeepSpeed saves)."""
    rows = []
    for kind in ("irm", "prm"):
        path = getattr(config, f"{kind}_path", None)
        if kind not in config.reward_funcs:
            continue
        local = path and (Path(path) / "config.json").is_file()
        shape = model_shape(path) if local else (shape_from_name(path or "") or policy_shape)
        params, _ = count_params(shape)
        rows.append((f"{kind.upper()} weights ({params / 1e9:.1f}B, bf16, not sharded)", params * 2))
    return rows


def count_params(
    shape: dict[str, Any], lora_r: int = 0, lora_modules: tuple[str, ...] = ()
) -> tuple[int, int]:
    """(all parameters, LoRA parameters) of a LLaMA-style decoder."""
    h, i, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = h * shape.get("num_key_value_heads", shape["num_attention_heads"]) // shape["num_attention_heads"]
    dims = {
        "q_proj": (h, h),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (h, h),
        "gate_proj": (h, i),
        "up_proj": (h, i),
        "down_proj": (i, h),
    }
    per_layer = sum(a * b for a, b in dims.values()) + 2 * h
    embed = shape["vocab_size"] * h * (1 if shape.get("tie_word_embeddings") else 2)
    lora = layers * sum(lora_r * (a + b) for m, (a, b) in dims.items() if m in lora_modules)
    return embed + layers * per_layer + h, lora


def memory_plan(config: PPOPlanConfig) -> str:
    """Per-GPU bytes of weights, gradients and optimizer states for this PPO setup (activations excluded)."""
    shape = model_shape(config.model)
    lora_r = config.lora_r if config.use_lora else 0
    params, lora = count_params(shape, lora_r, tuple(config.lora_target_modules))
    n, z, half = config.num_gpus, config.zero_stage, 2 if config.bf16 else 4
    adam = 12 if config.bf16 else 8  # bytes per trained parameter: (fp32 master +) Adam's m and v
    trainable = lora if config.use_lora else params
    shard = {"params": n if z >= 3 else 1, "grads": n if z >= 2 else 1, "optim": n if z >= 1 else 1}
    rows = [
        ("policy weights", params * half / shard["params"]),
        ("policy gradients", trainable * half / shard["grads"]),
        (
            "optimizer (fp32 master + Adam m, v)" if config.bf16 else "optimizer (Adam m, v)",
            0 if config.offload_optimizer else trainable * adam / shard["optim"],
        ),
    ]
    if not config.use_lora:
        rows.append(("reference weights (frozen)", params * half / shard["params"]))
    if config.value_model == "separate" and config.uses_critic:
        rows += [
            ("critic weights + gradients", 2 * params * half / shard["params"]),
            ("critic optimizer", 0 if config.offload_optimizer else params * adam / shard["optim"]),
        ]
    rows += reward_model_rows(config, shape)
    if config.rollout_backend == "vllm":
        tp = config.vllm_tensor_parallel_size
        rows.append((f"vLLM weights (bf16, tensor parallel {tp})", params * 2 / tp))
    micro = config.mini_batch_size // config.gradient_accumulation_steps
    seq = config.max_prompt_length + config.max_new_tokens
    rows.append(("logits of one micro-batch (fp32)", micro * seq * shape["vocab_size"] * 4))
    total = sum(b for _, b in rows)
    gib = 1024**3
    title = (
        f"PPO memory plan: {config.model} ({params / 1e9:.2f}B parameters"
        + (f", LoRA {lora / 1e6:.1f}M trainable" if config.use_lora else "")
        + f"), {n} GPU(s), ZeRO stage {z}, "
        + ("bf16" if config.bf16 else "fp32")
        + (", optimizer offloaded to CPU" if config.offload_optimizer else "")
    )
    lines = [
        title,
        *(f"  {name:<40} {b / gib:8.1f} GiB" for name, b in rows),
        f"  {'total per GPU (before activations)':<40} {total / gib:8.1f} GiB",
    ]
    if config.rollout_backend == "vllm":
        lines.append(
            f"  vLLM reserves {config.vllm_gpu_memory_utilization:.0%} of each GPU in all "
            "(its weights + KV cache)"
        )
    if config.offload_optimizer:
        nodes = max(1, n // 8)  # 8 GPUs a node
        per_node = trainable * 12 / gib / nodes
        lines.append(
            f"  CPU RAM for offloaded optimizer states: {per_node:.0f} GiB per node ({nodes} node(s))"
        )
    return "\n".join(lines)
