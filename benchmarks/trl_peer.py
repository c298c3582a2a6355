"""TRL's ``GRPOTrainer``, set up directly as a user would, as the peer of wizardmath's PPO step.

The trainer is TRL's own; a subclass only times two of its methods and a callback times each step:

- generation: ``_generate`` (tokenize, ``generate``, decode the group of completions);
- scoring: ``_calculate_rewards`` (the reward functions; here wizardmath's reward object, whose TRL
  reward-function contract makes it a reward function as it is);
- update: the rest of the step, from ``on_step_begin`` to ``on_step_end``: the reference model's
  log-probs, advantages, the policy's forward and backward, the optimizer step, TRL's bookkeeping.

Used by ``benchmarks/rl_vs_trl.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

PHASES = ("generation", "scoring", "update")


@dataclass
class RLSettings:
    """What both arms share: a step samples ``prompts`` x ``group`` responses, takes one optimizer step."""

    prompts: int = 8
    group: int = 8
    max_new_tokens: int = 128
    steps: int = 6
    learning_rate: float = 2e-4
    beta: float = 0.04  # KL coefficient to the reference (both arms load a frozen reference)
    temperature: float = 1.0
    seed: int = 0
    bf16: bool = False

    @property
    def responses(self) -> int:
        return self.prompts * self.group


def step_phases(steps: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per-step ``generation``, ``scoring``, ``update`` and ``step`` seconds from each step's wall time
    (``step``) and the seconds spent generating and scoring inside it; update is what is left."""
    out = []
    for s in steps:
        update = s["step"] - s.get("generation", 0.0) - s.get("scoring", 0.0)
        out.append(
            {
                "generation": s.get("generation", 0.0),
                "scoring": s.get("scoring", 0.0),
                "update": update,
                "step": s["step"],
            }
        )
    return out


def timed_trainer_class() -> type:
    """``GRPOTrainer`` with its generation and scoring calls timed into ``self.clock``."""
    from trl import GRPOTrainer

    class TimedGRPOTrainer(GRPOTrainer):
        clock: dict[str, float]

        def _generate(self, prompts: list):
            start = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                self.clock["generation"] = self.clock.get("generation", 0.0) + time.perf_counter() - start

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            start = time.perf_counter()
            try:
                return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            finally:
                self.clock["scoring"] = self.clock.get("scoring", 0.0) + time.perf_counter() - start

    return TimedGRPOTrainer


def step_clock(trainer: Any, steps: list[dict[str, float]]) -> Any:
    """A ``TrainerCallback`` that appends each step's wall time and phase clock to ``steps``."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            trainer.clock = {}
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            steps.append({**trainer.clock, "step": time.perf_counter() - self.start})

    return StepClock()


def run_trl(
    model: Any, tokenizer: Any, dataset: Any, reward: Any, s: RLSettings, out: str
) -> tuple[list[dict[str, float]], float]:
    """``settings.steps`` GRPO steps of TRL's trainer: phase seconds per step, and the mean completion
    length TRL logged over the run (one log at the end)."""
    import torch
    from trl import GRPOConfig

    config = GRPOConfig(
        output_dir=out,
        per_device_train_batch_size=s.responses,
        num_generations=s.group,
        gradient_accumulation_steps=1,
        num_iterations=1,
        max_completion_length=s.max_new_tokens,
        max_steps=s.steps,
        learning_rate=s.learning_rate,
        beta=s.beta,
        temperature=s.temperature,
        seed=s.seed,
        bf16=s.bf16,
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=False,  # TRL's default is on; wizardmath's PPO does not checkpoint
        report_to="none",
        save_strategy="no",
        logging_steps=s.steps,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    steps: list[dict[str, float]] = []
    trainer = timed_trainer_class()(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.clock = {}
    trainer.add_callback(step_clock(trainer, steps))
    trainer.train()
    lengths = [
        h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    return step_phases(steps), (lengths[-1] if lengths else float("nan"))
