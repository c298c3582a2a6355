"""``PRMConfig``: the settings of ``wizardmath train-prm`` (``reward_models.prm`` trains with them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from reward_models.prm_layout import StepFormat
from wizardmath.args import ModelArguments, ReportArguments, RunArguments, check_limit, default_output
from wizardmath.data import TEMPLATES


@dataclass
class PRMConfig(ModelArguments, ReportArguments, RunArguments, TrainingArguments):
    """``wizardmath train-prm``: every ``TrainingArguments`` flag plus the PRM's own.

    ``resume`` and ``overwrite`` (``RunArguments``) as every trainer: ``auto`` resumes from the last
    ``checkpoint-*`` in ``output_dir`` when there is one.
    """

    model: str | None = field(
        default=None,
        metadata={
            "help": (
                "Causal LM checkpoint to start from (ideally the SFT model); a 2-way token-classification "
                "head is added."
            )
        },
    )
    data_path: str = field(
        default=default_output("prm_labels.jsonl"),
        metadata={"help": "Stepwise data: a local JSONL/JSON/Parquet file or a hub data set name."},
    )
    data_format: str = field(
        default="auto",
        metadata={"help": "auto, stepwise (TRL prompt/completions/labels), prm800k or math-shepherd."},
    )
    split: str = field(default="train", metadata={"help": "Split to read from a hub data set."})
    neutral_as: str = field(
        default="positive", metadata={"help": "PRM800K rating 0 counts as positive or negative."}
    )
    limit: int | None = field(default=None, metadata={"help": "Read at most this many records."})
    eval_data_path: str | None = field(
        default=None,
        metadata={"help": "Held-out stepwise file; without it, eval_fraction of the problems are held out."},
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Fraction of problems (by prompt) held out for the step AUC when no eval file is given."
        },
    )
    template: str = field(
        default="auto",
        metadata={
            "help": (
                "Prompt template the steps follow: auto (chat when the model has a chat template), "
                "wizardmath, chat or raw (match the SFT model)."
            )
        },
    )
    completion_prefix: str = field(
        default=" ",
        metadata={
            "help": "Text between the prompt and the first step (WizardMath responses start with a space)."
        },
    )
    step_separator: str = field(
        default="\n", metadata={"help": "Text after every step; the PRM is read at its last token."}
    )
    max_length: int = field(
        default=1024,
        metadata={
            "help": (
                "Longest tokenized solution; the prompt is cut from the left, then trailing steps dropped."
            )
        },
    )
    use_soft_labels: bool = field(
        default=True,
        metadata={"help": "Train on soft_labels (Monte-Carlo) when a record has them, else on labels."},
    )
    output_dir: str | None = field(
        default=default_output("prm"), metadata={"help": "Where checkpoints and the final model go."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every this many optimizer steps."})
    ranking_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": (
                "Weight of a within-problem pairwise loss: softplus(margin - (s_correct - s_wrong)) over "
                "samples of one problem (meta.parent_id, else the prompt), s = the min step log-odds; "
                "batches then hold whole problems. 0: off (step cross-entropy only)."
            )
        },
    )
    ranking_margin: float = field(
        default=0.0, metadata={"help": "Log-odds margin of the ranking loss (ranking_loss_weight > 0)."}
    )

    def __post_init__(self) -> None:
        from reward_models.stepwise import FORMATS

        if not self.model:
            raise ValueError(
                "train-prm needs --model: the causal LM to start from (ideally the SFT model folder)"
            )
        check_limit(self.limit)
        if self.template not in TEMPLATES:
            raise ValueError(f"template: '{self.template}' is not one of {', '.join(TEMPLATES)}")
        if self.data_format not in ("auto", *FORMATS):
            raise ValueError(f"data_format: '{self.data_format}' is not one of auto, {', '.join(FORMATS)}")
        if not self.step_separator:
            raise ValueError(
                "step_separator must not be empty (the PRM reads its score there); '\\n' is the default"
            )
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.ranking_loss_weight < 0:
            raise ValueError(f"ranking_loss_weight must be >= 0, got {self.ranking_loss_weight}")
        if self.neutral_as not in ("positive", "negative"):
            raise ValueError(f"neutral_as must be 'positive' or 'negative', got {self.neutral_as!r}")
        super().__post_init__()

    @property
    def step_format(self) -> StepFormat:
        return StepFormat(self.template, self.completion_prefix, self.step_separator)
