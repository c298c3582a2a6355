"""``PPOConfig``: everything a PPO run needs; YAML keys and ``--flags`` are these field names.

The memory plan's own keys (``dry_run``, ``num_gpus``, ``zero_stage``, ``offload_optimizer``) are not
here but in ``wizardmath.train.ppo_plan.PPOPlanConfig``, what ``wizardmath ppo`` parses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wizardmath.args import ModelArguments, ReportArguments, RunArguments
from wizardmath.rewards import STEP_REWARDS, RewardArguments
from wizardmath.train import ppo_core as core
from wizardmath.train.rl_data import ProblemArguments


@dataclass
class PPOConfig(ModelArguments, ReportArguments, RunArguments, ProblemArguments, RewardArguments):
    """Everything a PPO run needs; YAML keys and ``--flags`` are these field names.

    The model, its precision and LoRA come from ``ModelArguments``, ``report_to`` from
    ``ReportArguments``; PPO keeps its own defaults for a few of them (below)."""

    ref_model: str | None = field(
        default=None, metadata={"help": "Frozen reference for the KL penalty (default: model)."}
    )
    eval_steps: int = field(
        default=0, metadata={"help": "Evaluate every N steps (0: only before and after training)."}
    )
    output_dir: str = field(
        default="", metadata={"help": "Where checkpoints, metrics.jsonl and the final model go."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for prompt order, sampling and minibatch shuffles."})
    # rollout
    steps: int = field(default=100, metadata={"help": "PPO steps (one rollout batch and its updates each)."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per step per process."})
    num_samples: int = field(default=1, metadata={"help": "Responses sampled per prompt."})
    max_prompt_length: int = field(
        default=512, metadata={"help": "Prompts are cut to this many tokens (from the left)."}
    )
    max_new_tokens: int = field(default=256, metadata={"help": "Longest response."})
    temperature: float = field(
        default=1.0, metadata={"help": "Sampling temperature (log-probs use the same)."}
    )
    top_k: int = field(default=0, metadata={"help": "Top-k sampling (0: off)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling."})
    step_reward: str | None = field(
        default=None,
        metadata={
            "help": "Dense step reward on the tokens where a step went wrong: arithmetic (verifier "
            "claim checks) or none."
        },
    )
    step_reward_coef: float = field(
        default=1.0,
        metadata={"help": "Weight of each step-reward event (arithmetic: -coef per false claim)."},
    )
    filter_groups: bool = field(
        default=False,
        metadata={
            "help": "DAPO-style: learn only from groups whose verifier correctness is mixed (plus "
            "keep_easy of the all-correct ones); needs num_samples > 1."
        },
    )
    keep_easy: float = field(
        default=0.0, metadata={"help": "filter_groups: share of all-correct groups kept."}
    )
    keep_best: bool = field(
        default=False,
        metadata={
            "help": "Save the policy of the step (0 included) with the best accuracy on "
            "eval_data_path (a validation split)."
        },
    )
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtract this from the reward of responses cut at max_new_tokens."}
    )
    rollout_backend: str = field(
        default="hf",
        metadata={"help": "hf (transformers generate) or vllm (CUDA, colocated, weights synced each step)."},
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "GPU share vLLM may take (weights + KV cache)."}
    )
    vllm_tensor_parallel_size: int = field(
        default=1, metadata={"help": "GPUs one vLLM engine spans (70B: 8)."}
    )
    ds3_gather_for_generation: bool = field(
        default=True,
        metadata={
            "help": "ZeRO-3 + hf rollouts: gather the policy on each GPU to generate (off: slow, for "
            "models that do not fit one GPU)."
        },
    )
    # PPO
    ppo_epochs: int = field(default=2, metadata={"help": "Passes over each rollout batch."})
    mini_batch_size: int = field(default=16, metadata={"help": "Responses per optimizer step."})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches per minibatch (mini_batch_size is split)."}
    )
    learning_rate: float = field(default=1e-6, metadata={"help": "Policy learning rate (AdamW)."})
    value_learning_rate: float | None = field(
        default=None, metadata={"help": "Value head / critic learning rate (default: learning_rate)."}
    )
    warmup_steps: int = field(default=0, metadata={"help": "Linear learning-rate warm-up, in PPO steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping."})
    advantage_estimator: str = field(
        default="gae",
        metadata={"help": "gae (critic) or grpo (group-normalised scores, needs num_samples > 1)."},
    )
    gamma: float = field(default=1.0, metadata={"help": "Discount."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    cliprange: float = field(default=0.2, metadata={"help": "Policy ratio clip."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value clip around the rollout's values."})
    vf_coef: float = field(default=0.1, metadata={"help": "Value loss weight."})
    entropy_coef: float = field(default=0.0, metadata={"help": "Entropy bonus weight."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Normalise advantages per batch."})
    kl_coef: float = field(
        default=0.05, metadata={"help": "Per-token KL penalty coefficient (initial value if adaptive)."}
    )
    kl_estimator: str = field(default="k1", metadata={"help": "KL estimator in the reward: k1, abs, k2, k3."})
    adaptive_kl: bool = field(
        default=False, metadata={"help": "Adapt kl_coef so the KL tracks kl_target (Ziegler et al.)."}
    )
    kl_target: float = field(default=6.0, metadata={"help": "Adaptive KL target (nats per response)."})
    kl_horizon: int = field(default=10000, metadata={"help": "Adaptive KL horizon."})
    # models
    value_model: str = field(
        default="shared", metadata={"help": "shared (value head on the policy) or separate (critic network)."}
    )
    critic_model: str | None = field(
        default=None, metadata={"help": "Critic backbone for value_model separate (default: model)."}
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Trade compute for activation memory."}
    )
    # PPO's own defaults for shared fields
    bf16: bool | None = field(
        default=False,
        metadata={
            "help": "bf16 weights and mixed precision (GPUs that have it); torch_dtype auto follows it."
        },
    )
    lora_dropout: float = field(
        default=0.0,
        metadata={"help": "LoRA dropout (PPO turns every dropout off: its ratios assume one network)."},
    )
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], metadata={"help": "LoRA modules."}
    )
    report_to: str | list[str] = field(
        default="wandb",
        metadata={"help": "wandb (offline unless WANDB_MODE says otherwise), tensorboard or none."},
    )
    # bookkeeping
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N steps (0: only at the end)."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept."})
    max_minutes: float | None = field(
        default=None, metadata={"help": "Stop (and save) after this much wall time."}
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "weighted_sum: one weight per reward_funcs entry."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # ModelArguments: bf16 resolved once
        self.check_choices()
        self.check_run()

    def check_choices(self) -> None:
        """The model and every name-chosen variant are valid (all a memory plan needs)."""
        if not self.model:
            raise ValueError("ppo needs --model (the SFT model folder, e.g. runs/tiny/sft)")
        self.validate_rewards(self.reward_weights)
        choices = {
            "rollout_backend": ("hf", "vllm"),
            "value_model": ("shared", "separate"),
            "advantage_estimator": core.ADVANTAGE_ESTIMATORS,
            "kl_estimator": tuple(core.KL_ESTIMATORS),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} '{getattr(self, name)}'; valid: {', '.join(valid)}")
        if self.step_reward is not None and self.step_reward not in STEP_REWARDS:
            raise ValueError(f"unknown step_reward '{self.step_reward}'; valid: {', '.join(STEP_REWARDS)}")

    def check_run(self) -> None:
        """What a training run needs besides: an output folder, problems and batch sizes that divide."""
        if not self.output_dir:
            raise ValueError(
                "ppo needs --output DIR (alias of --output_dir): checkpoints and the final model go there"
            )
        if self.dataset == "jsonl" and not self.data_path:
            raise ValueError("ppo needs problems: set --data_path FILE.jsonl (problem/answer/id lines)")
        rollout = self.batch_size * self.num_samples
        if rollout % self.mini_batch_size or self.mini_batch_size % self.gradient_accumulation_steps:
            raise ValueError(
                f"batch_size x num_samples ({rollout}) must be a multiple of mini_batch_size "
                f"({self.mini_batch_size}), "
                f"and mini_batch_size of gradient_accumulation_steps ({self.gradient_accumulation_steps})"
            )
        if self.filter_groups and self.num_samples < 2:
            raise ValueError("filter_groups compares samples of one prompt: set num_samples >= 2")
        if self.advantage_estimator == "grpo" and self.num_samples < 2:
            raise ValueError("advantage_estimator grpo compares samples of one prompt: set num_samples >= 2")

    @property
    def micro_batch_size(self) -> int:
        """Responses per forward/backward pass."""
        return self.mini_batch_size // self.gradient_accumulation_steps

    @property
    def uses_critic(self) -> bool:
        """GAE needs values; GRPO's group-normalised advantages do not (no value loss, no critic)."""
        return self.advantage_estimator == "gae"
