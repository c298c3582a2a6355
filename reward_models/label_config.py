"""``LabelConfig``: the settings of ``wizardmath label-prm``, and the labellers it chooses from by name
(``LABELERS``; ``reward_models.labelers`` runs them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reward_models.step_labels import JudgeLabeler, Labeler, MonteCarloLabeler, RuleLabeler
from wizardmath.args import BackendArguments, JudgeArguments, check_limit, default_output
from wizardmath.backends import Backend


def _mc_labeler(config: LabelConfig, policy: Callable[[], Backend]) -> Labeler:
    return MonteCarloLabeler(
        policy(),
        config.mc_rollouts,
        config.mc_temperature,
        config.max_new_tokens,
        config.mc_hard,
        config.template,
        completion_prefix="" if config.template == "chat" else " ",
        seed=config.seed,
        progress=config.progress,
    )


# name -> builder from the label-prm config and the (lazily built) policy backend
LABELERS: dict[str, Callable[[LabelConfig, Callable[[], Backend]], Labeler]] = {
    "rule": lambda config, policy: RuleLabeler(),
    "mc": _mc_labeler,
    "judge": lambda config, policy: JudgeLabeler(config.build_judge()),
}


@dataclass
class LabelConfig(BackendArguments, JudgeArguments):
    """``wizardmath label-prm``: sample (or read) solutions, label their steps, write stepwise JSONL."""

    labeler: str = field(
        default="rule", metadata={"help": "Step labeller: rule, mc or judge.", "choices": list(LABELERS)}
    )
    output: str = field(
        default=default_output("prm_labels.jsonl"),
        metadata={"help": "Stepwise JSONL to append to (re-running skips ids already there)."},
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Policy (the SFT model) that writes solutions and, for mc, the rollouts."},
    )
    backend: str = field(
        default="transformers",
        metadata={"help": "Backend serving the policy: transformers, openai, vllm, ..."},
    )
    judge_backend: str = field(default="openai", metadata={"help": "judge: backend of the judging LLM."})
    dataset: str = field(
        default="jsonl",
        metadata={"help": "Problems to solve: gsm8k, math, math500, jsonl (data_path) or a hub name."},
    )
    data_path: str | None = field(
        default=None,
        metadata={
            "help": (
                "Local problems file (e.g. evolve's problems.jsonl); with import_format, the file or hub "
                "name to import."
            )
        },
    )
    split: str = field(default="train", metadata={"help": "Split of a hub data set."})
    limit: int | None = field(
        default=None, metadata={"help": "Use at most this many problems (or imported records)."}
    )
    solutions_path: str | None = field(
        default=None,
        metadata={
            "help": "Label these solutions (JSONL: id, problem, answer, solution) instead of sampling."
        },
    )
    num_samples: int = field(default=4, metadata={"help": "Solutions sampled per problem."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature of the solutions."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest solution or rollout, in tokens."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per generate call (local backends)."})
    template: str = field(
        default="auto",
        metadata={
            "help": "Prompt template the policy was trained with (auto: chat when it has a chat template)."
        },
    )
    mc_rollouts: int = field(default=8, metadata={"help": "mc: rollouts from every step prefix."})
    mc_temperature: float = field(default=0.8, metadata={"help": "mc: rollout temperature."})
    mc_hard: str = field(
        default="any", metadata={"help": "mc: hard label is 'any' rollout correct or the 'majority'."}
    )
    agree_with: str | None = field(
        default=None,
        metadata={"help": "Second labeller; keep each solution's steps up to the first disagreement."},
    )
    unknown: str = field(
        default="keep",
        metadata={
            "help": (
                "Steps no labeller could decide: keep (null labels, masked in training) or drop the record "
                "(strict TRL)."
            )
        },
    )
    import_format: str | None = field(
        default=None,
        metadata={"help": "Convert data_path instead of labelling: prm800k, math-shepherd or stepwise."},
    )
    neutral_as: str = field(
        default="positive", metadata={"help": "prm800k import: rating 0 counts as positive or negative."}
    )
    chunk: int = field(
        default=64, metadata={"help": "Problems per labelling round (each round is written before the next)."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})  # as evolve, solve, eval
    overwrite: bool = field(default=False, metadata={"help": "Delete --output and start clean."})
    resume: bool = field(
        default=False,
        metadata={"help": "Append to --output even though it was written with other data or settings."},
    )

    def __post_init__(self) -> None:
        for name in ("labeler", "agree_with"):
            value = getattr(self, name)
            if value is not None and value not in LABELERS:
                raise ValueError(f"{name}: unknown labeller '{value}'; valid: {', '.join(LABELERS)}")
        check_limit(self.limit)
        if self.unknown not in ("keep", "drop"):
            raise ValueError(f"unknown must be 'keep' or 'drop', got {self.unknown!r}")
        if self.import_format is not None and not self.data_path:
            raise ValueError(
                "import_format needs data_path: a local PRM800K / Math-Shepherd file or a hub data set name"
            )
        needs_policy = self.import_format is None and (
            self.solutions_path is None or "mc" in (self.labeler, self.agree_with)
        )
        if needs_policy and not self.model:
            raise ValueError(
                "set --model to the policy (SFT) checkpoint: it writes the solutions and the mc rollouts"
            )
        if (
            self.import_format is None
            and self.solutions_path is None
            and not self.data_path
            and self.dataset == "jsonl"
        ):
            raise ValueError(
                "set --data-path to the problems (e.g. evolve's problems.jsonl), or --solutions_path"
            )
