"""The Instruction Reward Model (IRM): how good an evolved problem is, as one scalar.

Trained with TRL's ``RewardTrainer`` (a sequence-classification head on a causal LM checkpoint,
Bradley-Terry loss ``-log sigmoid(r_chosen - r_rejected)``) on pairs from ``irm_data``.

Scale: ``score`` returns the raw head output, a logit. Only differences are meaningful:
``sigmoid(score(a) - score(b))`` is the model's probability that ``a`` is the better problem. PPO's
reward maps one score to [0, 1] with ``sigmoid(score)``; train with ``center_rewards_coefficient``
(e.g. 0.01) to keep scores centred on 0 so that this mapping is well spread.

``wizardmath train-irm --config configs/tiny/irm.yaml`` trains; ``InstructionRewardModel`` scores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import RewardConfig

from reward_models.common import default_device, ensure_pad_token, split_held_out, write_summary
from reward_models.irm_data import JUDGES
from wizardmath.args import JudgeArguments, ModelArguments, ReportArguments, RunArguments, default_output


@dataclass
class IRMConfig(ModelArguments, ReportArguments, JudgeArguments, RunArguments, RewardConfig):
    """``wizardmath train-irm``: every ``RewardConfig`` / ``TrainingArguments`` flag plus the IRM's own.

    ``resume`` and ``overwrite`` (``RunArguments``) as every trainer: ``auto`` resumes from the last
    ``checkpoint-*`` in ``output_dir`` when there is one.
    """

    model: str | None = field(
        default=None,
        metadata={
            "help": "Causal LM checkpoint to start from; a 1-output sequence-classification head is added."
        },
    )
    data_path: str = field(
        default=default_output("evolve"),
        metadata={
            "help": (
                "An evolve --output folder (pairs are built here) or a preference JSONL (chosen/rejected)."
            )
        },
    )
    judge: str = field(
        default="symbolic",
        metadata={
            "help": (
                "Ranks each group of candidates: symbolic (facts of the symbolic world), llm (rubric "
                "prompt) or eliminator (accepted over rejected siblings, no model)."
            ),
            "choices": list(JUDGES),
        },
    )
    judge_backend: str = field(default="openai", metadata={"help": "llm judge: backend name."})
    include_parent: bool = field(
        default=True, metadata={"help": "Rank the parent problem together with its evolved candidates."}
    )
    max_pairs_per_group: int | None = field(
        default=16, metadata={"help": "Sample at most this many pairs per group (None: all)."}
    )
    eval_data_path: str | None = field(
        default=None,
        metadata={"help": "Held-out pairs file; without it, eval_fraction of the groups are held out."},
    )
    eval_fraction: float = field(
        default=0.15, metadata={"help": "Fraction of candidate groups held out for pairwise accuracy."}
    )
    output_dir: str | None = field(
        default=default_output("irm"),
        metadata={"help": "Where checkpoints, the pairs and the final model go."},
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError(
                "train-irm needs --model: the causal LM to start from (e.g. the SFT model folder)"
            )
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.judge not in JUDGES:
            raise ValueError(f"judge: '{self.judge}' is not one of {', '.join(JUDGES)}")
        if self.judge == "llm" and not self.judge_model:
            raise ValueError("judge=llm needs --judge_model (and --judge_base_url for a local server)")
        super().__post_init__()


NO_IRM_WAY_OUT = (
    "the symbolic judge reads only the symbolic world's problems; for GSM8k/MATH evolutions use "
    "--judge llm with --judge_model, or --judge eliminator (accepted over rejected siblings, no model); "
    "a weak evolver may accept nothing: evolve with a stronger model; "
    "or train PPO without the IRM: reward_funcs [prm, verifier]"
)


def check_evolutions(data_path: str | None) -> None:
    """Refuse at once, before any model loads, an evolve folder whose evolution accepted nothing: the
    IRM learns from accepted against rejected siblings, so it (and the paper's IRM x PRM reward)
    cannot be trained from it."""
    from wizardmath.jsonl import OWN_FILE, iter_jsonl

    folder = Path(data_path or "")
    problems = folder / "problems.jsonl"
    if not folder.is_dir() or not problems.is_file():
        return
    evolved = sum(1 for _, r in iter_jsonl(problems, max_bytes=OWN_FILE) if (r.get("round") or 0) > 0)
    if evolved == 0:
        raise ValueError(
            f"{problems}: evolution accepted no problem (only seeds), so there are no accepted vs "
            f"rejected siblings to learn from and no IRM can be trained ({NO_IRM_WAY_OUT})"
        )


def _pairs(config: IRMConfig) -> tuple[list[dict], list[dict]]:
    from reward_models.irm_data import pairs_from, read_pairs
    from wizardmath.distributed import is_main_process
    from wizardmath.jsonl import write_jsonl

    pairs, built = pairs_from(
        config.data_path,
        config.judge,
        config.build_judge,
        config.max_pairs_per_group,
        config.include_parent,
        config.seed,
    )
    if built and is_main_process():  # every rank builds the same pairs; one writes them
        write_jsonl(Path(config.output_dir) / "irm_pairs.jsonl", pairs)
    if config.eval_data_path:
        return pairs, read_pairs(config.eval_data_path)
    return split_held_out(pairs, lambda p: p["group"], config.eval_fraction)


def pairwise_accuracy(irm: InstructionRewardModel, pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fraction of pairs where the chosen problem outscores the rejected one (ties count half)."""
    texts = sorted({p[k] for p in pairs for k in ("chosen", "rejected")})
    scores = dict(zip(texts, irm.score(texts), strict=True))
    wins = sum(
        1.0
        if scores[p["chosen"]] > scores[p["rejected"]]
        else 0.5
        if scores[p["chosen"]] == scores[p["rejected"]]
        else 0.0
        for p in pairs
    )
    return {
        "eval_pairs": len(pairs),
        "eval_groups": len({p["group"] for p in pairs}),
        "pairwise_accuracy": wins / max(len(pairs), 1),
    }


def train_irm(config: IRMConfig) -> dict[str, Any]:
    """Build or read preference pairs, train the IRM, save it, and report held-out pairwise accuracy."""
    from wizardmath.resume import run_trainer

    config.setup_reporting()
    check_evolutions(config.data_path)  # before the model is even looked at: nothing here can train it
    return run_trainer(config, "train-irm", _train_irm)


def _train_irm(config: IRMConfig) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, set_seed
    from trl import RewardTrainer

    from wizardmath.distributed import is_main_process
    from wizardmath.models import load_pretrained, load_tokenizer

    start = time.perf_counter()
    set_seed(config.seed)
    train, held = _pairs(config)
    if not train:
        raise ValueError(
            f"{config.data_path}: no preference pairs to train on: no seed has two candidates the "
            f"'{config.judge}' judge can rank ({NO_IRM_WAY_OUT})"
        )
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    model = load_pretrained(
        AutoModelForSequenceClassification,
        config.model,
        num_labels=1,
        dtype=config.load_dtype(),
        trust_remote_code=config.trust_remote_code,
    )
    ensure_pad_token(tokenizer, model)
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([{"chosen": p["chosen"], "rejected": p["rejected"]} for p in train]),
        processing_class=tokenizer,
        peft_config=config.to_peft_config("SEQ_CLS"),
    )
    from wizardmath.resume import start_run, train_resumable, trainer_settings

    checkpoint = start_run(
        config, "train-irm", trainer_settings(config, config.data_path), ["irm_summary.json"]
    )
    result = train_resumable(trainer, config, "train-irm", checkpoint)
    summary: dict[str, Any] = {
        "model": config.output_dir,
        "train_pairs": len(train),
        "train_groups": len({p["group"] for p in train}),
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "resumed_from": checkpoint,
    }
    if held:
        irm = InstructionRewardModel(trainer.model, tokenizer)
        summary.update(pairwise_accuracy(irm, held))
    shown = ("train_pairs", "global_step", "train_loss", "eval_pairs", "pairwise_accuracy", "seconds")
    if not is_main_process():  # the summary is written once (each rank computed the same one)
        return summary
    return write_summary("train-irm", config.output_dir, "irm_summary.json", summary, start, shown)


class InstructionRewardModel:
    """A trained IRM: ``score(problems)`` gives one logit per problem; higher = better posed / harder.

    Texts are laid out as in training (the problem, then the eos token); see the module docstring
    for the scale.
    """

    def __init__(self, model: Any, tokenizer: Any, device: str | None = None):
        self.device = default_device(device) if device or not hasattr(model, "device") else str(model.device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        ensure_pad_token(tokenizer, model)

    @classmethod
    def from_pretrained(cls, path: str, device: str | None = None) -> InstructionRewardModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(path)
        if model.config.num_labels != 1:
            raise ValueError(
                f"{path}: an IRM has a 1-output head, this one has {model.config.num_labels} (is it a PRM?)"
            )
        return cls(model, AutoTokenizer.from_pretrained(path), default_device(device))

    def score(self, problems: Sequence[str], batch_size: int = 32) -> list[float]:
        import torch

        eos = self.tokenizer.eos_token or ""
        out: list[float] = []
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"  # the head reads the last non-pad token
        try:
            for begin in range(0, len(problems), batch_size):
                texts = [p if p.endswith(eos) else p + eos for p in problems[begin : begin + batch_size]]
                batch = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
                with torch.no_grad():
                    logits = self.model(
                        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                    ).logits
                out.extend(float(x) for x in logits[:, 0].float().cpu())
        finally:
            self.tokenizer.padding_side = side
        return out
