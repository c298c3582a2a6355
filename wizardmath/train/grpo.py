"""GRPO, the critic-free alternative to PPO, through TRL's ``GRPOTrainer`` with the same rewards.

``wizardmath grpo --config configs/tiny/grpo.yaml`` samples ``num_generations`` responses per
problem, scores them with the reward terms of ``wizardmath.rewards`` (the same ``reward_funcs`` /
``reward_combine`` keys as ``wizardmath ppo``, so one YAML block compares the two), and normalises
each score against its group instead of learning a value function (Shao et al. 2024).

With ``reward_combine: weighted_sum`` each term goes to TRL as its own reward function (TRL weighs
them with ``reward_weights`` and logs each); ``product`` and ``verifier_gated`` go as one combined
function. Prompts are ``format_prompt(problem, template)`` of problems JSONL (``problem``,
``answer``, ``id``), and the ``answer``/``problem`` columns reach the reward functions. Every
TrainingArguments/TRL flag works; DeepSpeed and multi-GPU runs use ``accelerate launch`` as SFT does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import GRPOConfig as TRLGRPOConfig

from wizardmath.args import ModelArguments, ReportArguments, RunArguments
from wizardmath.rewards import RewardArguments
from wizardmath.train.rl_data import ProblemArguments


@dataclass
class GRPOConfig(
    ModelArguments, ReportArguments, RunArguments, TRLGRPOConfig, ProblemArguments, RewardArguments
):
    """TRL's ``GRPOConfig`` plus wizardmath's model, report, data, reward and evaluation keys (the shared
    groups come first so their defaults win over TRL's fields of the same name)."""

    # GRPO's own defaults for shared fields
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], metadata={"help": "LoRA modules."}
    )
    report_to: str | list[str] = field(
        default="wandb", metadata={"help": "wandb (offline unless WANDB_MODE says otherwise), none, ..."}
    )
    beta: float = field(
        default=0.04,
        metadata={"help": "KL coefficient to the reference (TRL's default 0 drops the reference)."},
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("grpo needs --model (the SFT model folder, e.g. runs/tiny/sft)")
        if self.dataset == "jsonl" and not self.data_path:
            raise ValueError("grpo needs problems: set --data_path FILE.jsonl (problem/answer/id lines)")
        if self.output_dir in (None, "", "trainer_output"):
            raise ValueError(
                "grpo needs --output DIR (alias of --output_dir): checkpoints and the model go there"
            )
        self.validate_rewards(self.reward_weights)
        super().__post_init__()  # ModelArguments resolves bf16 (honouring use_cpu), then TRL's checks


def load_prompts(config: GRPOConfig):
    """Training problems as a ``datasets.Dataset`` with ``prompt``, ``problem``, ``answer``, ``id``."""
    from datasets import Dataset

    from wizardmath.data import format_prompt, template_for_model
    from wizardmath.models import load_tokenizer

    problems = config.train_problems()
    template = template_for_model(config.template, config.model)
    tokenizer = load_tokenizer(config.model) if template == "chat" else None
    rows = [
        {
            "prompt": format_prompt(p.problem, template, tokenizer),
            "problem": p.problem,
            "answer": p.answer or "",
            "id": p.id,
        }
        for p in problems
    ]
    return Dataset.from_list(rows)


def train_grpo(config: GRPOConfig) -> dict[str, Any]:
    """GRPO of ``config.model`` on ``config.data_path``; saves the policy to ``config.output_dir``.

    As the other trainers: one writer per output folder, a checkpoint is resumed only with the same
    data, model and rewards, and a run that trains 0 steps is an error, never a summary."""
    from wizardmath.resume import run_trainer

    return run_trainer(config, "grpo", _train_grpo)


def _train_grpo(config: GRPOConfig) -> dict[str, Any]:
    from trl import GRPOTrainer

    from wizardmath.eval.greedy import greedy_accuracy
    from wizardmath.jsonl import write_json
    from wizardmath.resume import rl_settings, start_run, train_resumable
    from wizardmath.rewards import build_reward
    from wizardmath.train.sft import load_model_and_tokenizer

    config.setup_reporting()
    start = time.perf_counter()
    # guarded, and a finished run refused, before loading the weights
    resume = start_run(config, "grpo", rl_settings(config), ["grpo_summary.json"])
    data = load_prompts(config)
    held_out = config.held_out_problems()
    model, tokenizer = load_model_and_tokenizer(
        config.model, config.torch_dtype, config.trust_remote_code, config.use_cpu
    )
    reward = build_reward(config, config.reward_weights)
    # weighted_sum: TRL sums the terms itself (and logs each); other combinations are one function
    funcs = list(reward.terms) if config.reward_combine == "weighted_sum" else [reward]
    peft_config = config.to_peft_config()
    budget = config.max_completion_length or 256
    before = greedy_accuracy(model, tokenizer, held_out, config.template, budget)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=config,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    try:
        result = train_resumable(trainer, config, "grpo", resume)
    finally:
        reward.close()
    if trainer.is_world_process_zero():  # one writer: ranks writing the same files at once can tear them
        tokenizer.save_pretrained(config.output_dir)
    after = greedy_accuracy(trainer.model, tokenizer, held_out, config.template, budget)
    logs = [h for h in trainer.state.log_history if "reward" in h]
    summary = {
        "accuracy": after,
        "accuracy_before": before,
        "n": len(held_out),
        "steps": result.global_step,
        "seconds": round(time.perf_counter() - start, 2),
        "resumed_from": resume,
        "final": logs[-1] if logs else {},
        "output_dir": config.output_dir,
    }
    if trainer.is_world_process_zero():
        write_json(Path(config.output_dir) / "grpo_summary.json", summary)
        print(
            f"grpo: {result.global_step} steps, held-out accuracy {before:.3f} -> {after:.3f} "
            f"(n={len(held_out)}), "
            f"{summary['seconds']:.0f}s; policy saved to {config.output_dir}"
        )
    return summary
