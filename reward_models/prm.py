"""The Process-supervised Reward Model (PRM): token classification at step separators.

A solution is laid out as the SFT model saw it (prompt template, then steps), with a separator
after each step::

    <prompt> Step 1: ...\\n Step 2: ...\\n The answer is: 9\\n
                         ^sep            ^sep                  ^sep

A 2-way classification head (``AutoModelForTokenClassification``; a LLaMA checkpoint gives
``LlamaForTokenClassification``) reads the hidden state at the last token of each separator; the
loss is computed there and nowhere else, against hard labels (0/1) or Monte-Carlo soft labels (the
fraction of rollouts that reached the answer). The score of a step is ``P(correct)`` in [0, 1]:
because the model is causal, it judges the step together with everything before it.

TRL 1.x no longer ships a PRM trainer; ``PRMTrainer`` is a ``transformers.Trainer`` with its own
``compute_loss``, so accelerate, DeepSpeed and multi-GPU runs need only a launcher config.

``wizardmath train-prm --config configs/tiny/prm.yaml`` trains; ``ProcessRewardModel`` scores. The
data layout (``StepFormat``, ``encode_steps``, targets, the collator) lives in ``prm_layout.py``,
the losses and ``PRMTrainer`` in ``prm_trainer.py``, the settings (``PRMConfig``) in ``prm_config.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from reward_models.common import (
    default_device,
    ensure_pad_token,
    split_held_out,
    split_solution,
    write_summary,
)
from reward_models.prm_config import PRMConfig
from reward_models.prm_layout import (  # noqa: F401  (re-exported: the data layout lives there)
    IGNORE,
    GroupBatchSampler,
    StepCollator,
    StepFormat,
    encode_record,
    encode_steps,
    group_key,
    solution_outcome,
    step_targets,
)
from reward_models.prm_trainer import PRMTrainer, prm_loss, ranking_loss  # noqa: F401  (re-exported)
from reward_models.stepwise import AGGREGATES
from wizardmath.data import resolve_template

# --------------------------------------------------------------------------------------- aggregation


def aggregate(scores: Sequence[float], how: str = "min") -> float:
    """One solution score from its step scores; an empty solution scores 0."""
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate '{how}'; valid: {', '.join(AGGREGATES)}")
    return float(AGGREGATES[how](list(scores))) if scores else 0.0


_aggregate = aggregate  # the scoring methods take an argument of the same name


# ------------------------------------------------------------------------------------------ training


def _datasets(config: PRMConfig, tokenizer: Any) -> tuple[Any, list[dict], list[dict]]:
    from datasets import Dataset

    from reward_models.stepwise import load_stepwise

    records = load_stepwise(
        config.data_path, config.data_format, config.split, config.neutral_as, config.limit
    )
    if config.eval_data_path:
        train, held = (
            records,
            load_stepwise(config.eval_data_path, config.data_format, "test", config.neutral_as),
        )
    else:
        train, held = split_held_out(records, lambda r: r["prompt"], config.eval_fraction)
    fmt = config.step_format
    rows = [encode_record(tokenizer, r, fmt, config.max_length, config.use_soft_labels) for r in train]
    if config.ranking_loss_weight > 0:  # which problem each record solves, and whether it is right
        index: dict[str, int] = {}
        for row, record in zip(rows, train, strict=True):
            row["group"] = index.setdefault(group_key(record), len(index))
            row["outcome"] = solution_outcome(record)
    rows = [r for r in rows if any(v != IGNORE for v in r["labels"])]
    if not rows:
        raise ValueError(
            f"{config.data_path}: no record has a labelled step that fits in max_length={config.max_length}"
        )
    return Dataset.from_list(rows), train, held


def train_prm(config: PRMConfig) -> dict[str, Any]:
    """Train a PRM from ``config.model`` on stepwise data; save it to ``output_dir``; report held-out AUC."""
    from wizardmath.resume import run_trainer

    config.setup_reporting()
    return run_trainer(config, "train-prm", _train_prm)


def _train_prm(config: PRMConfig) -> dict[str, Any]:
    from transformers import AutoModelForTokenClassification, set_seed

    from wizardmath.distributed import is_main_process
    from wizardmath.models import load_pretrained, load_tokenizer

    start = time.perf_counter()
    set_seed(config.seed)
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    ensure_pad_token(tokenizer)
    if config.template == "auto":  # saved concrete with the PRM, so scoring renders prompts the same way
        config.template = resolve_template("auto", tokenizer)
        if config.template == "chat" and config.completion_prefix == " ":
            config.completion_prefix = ""  # the space only follows the WizardMath prompt's last word
    train_set, train_records, held = _datasets(config, tokenizer)
    model = load_pretrained(
        AutoModelForTokenClassification,
        config.model,
        num_labels=2,
        id2label={0: "wrong", 1: "correct"},
        label2id={"wrong": 0, "correct": 1},
        dtype=config.load_dtype(),
        trust_remote_code=config.trust_remote_code,
    )
    ensure_pad_token(tokenizer, model)
    model.config.prm_format = asdict(config.step_format)
    model.config.prm_max_length = config.max_length
    if config.use_lora:  # peft keeps the new classification head trainable (modules_to_save)
        from peft import get_peft_model

        model = get_peft_model(model, config.to_peft_config("TOKEN_CLS"))
    trainer = PRMTrainer(
        model=model,
        args=config,
        train_dataset=train_set,
        data_collator=StepCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
    )
    from wizardmath.resume import start_run, train_resumable, trainer_settings

    settings = trainer_settings(config, config.data_path)
    if config.ranking_loss_weight > 0:  # only then, so manifests of runs without it stay as they were
        settings.update(ranking_loss_weight=config.ranking_loss_weight, ranking_margin=config.ranking_margin)
    checkpoint = start_run(config, "train-prm", settings, ["prm_summary.json"])
    result = train_resumable(trainer, config, "train-prm", checkpoint)
    summary: dict[str, Any] = {
        "model": config.output_dir,
        "train_records": len(train_records),
        "train_steps_labelled": sum(sum(v != IGNORE for v in r["labels"]) for r in train_set),
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "loss_history": [h["loss"] for h in trainer.state.log_history if "loss" in h],
        "resumed_from": checkpoint,
    }
    if config.ranking_loss_weight > 0:
        summary["ranking_loss_history"] = [
            h["ranking_loss"] for h in trainer.state.log_history if "ranking_loss" in h
        ]
    if held:
        prm = ProcessRewardModel(trainer.model, tokenizer, config.step_format, config.max_length)
        summary.update(evaluate_steps(prm, held))
    shown = ("train_records", "global_step", "train_loss", "eval_records", "step_auc", "seconds")
    if not is_main_process():  # the summary is written once (each rank computed the same one)
        return summary
    return write_summary("train-prm", config.output_dir, "prm_summary.json", summary, start, shown)


def evaluate_steps(
    prm: ProcessRewardModel, records: list[dict[str, Any]], batch_size: int = 32
) -> dict[str, Any]:
    """Step-level AUC and accuracy (threshold 0.5) of ``prm`` on labelled stepwise records."""
    from reward_models.common import auc

    all_scores = prm.score_batch([(r["prompt"], r["completions"]) for r in records], batch_size=batch_size)
    scores, labels = [], []
    for record, step_scores in zip(records, all_scores, strict=True):
        for score, label in zip(step_scores, record["labels"], strict=True):
            if label is not None:
                scores.append(score)
                labels.append(bool(label))
    accuracy = sum((s >= 0.5) == y for s, y in zip(scores, labels, strict=True)) / max(len(labels), 1)
    return {
        "eval_records": len(records),
        "eval_steps": len(labels),
        "eval_positive_rate": sum(labels) / max(len(labels), 1),
        "step_auc": auc(scores, labels),
        "step_accuracy": accuracy,
    }


# ------------------------------------------------------------------------------------------- scoring


class ProcessRewardModel:
    """A trained PRM: ``score_steps(problem, steps)`` gives P(correct) per step, in [0, 1].

    ``score_solution(problem, solution)`` splits a solution with the verifier's ``split_steps`` and
    aggregates (``min`` by default, as RLEIF does). Steps past ``max_length`` tokens get the score of
    the last step that fitted.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fmt: StepFormat | None = None,
        max_length: int = 1024,
        device: str | None = None,
    ):
        self.device = default_device(device) if device or not hasattr(model, "device") else str(model.device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        ensure_pad_token(tokenizer)
        self.fmt = fmt or StepFormat()
        self.max_length = max_length

    @classmethod
    def from_pretrained(cls, path: str, device: str | None = None) -> ProcessRewardModel:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        model = AutoModelForTokenClassification.from_pretrained(path)
        if model.config.num_labels != 2:
            raise ValueError(
                f"{path}: a PRM has a 2-way token-classification head, this one has {model.config.num_labels}"
            )
        fmt = StepFormat(**getattr(model.config, "prm_format", None) or {})
        max_length = getattr(model.config, "prm_max_length", None) or 1024
        return cls(model, AutoTokenizer.from_pretrained(path), fmt, max_length, default_device(device))

    def score_batch(
        self, items: Sequence[tuple[str, Sequence[str]]], batch_size: int = 16
    ) -> list[list[float]]:
        """Step scores for many ``(problem, steps)`` pairs, ``batch_size`` solutions per forward pass."""
        import torch

        out: list[list[float]] = []
        collate = StepCollator(self.tokenizer.pad_token_id)
        for begin in range(0, len(items), batch_size):
            chunk = items[begin : begin + batch_size]
            encoded = [encode_steps(self.tokenizer, p, s, self.fmt, self.max_length) for p, s in chunk]
            batch = collate([{"input_ids": ids, "labels": [IGNORE] * len(ids)} for ids, _ in encoded])
            with torch.no_grad():
                logits = self.model(
                    input_ids=batch["input_ids"].to(self.device),
                    attention_mask=batch["attention_mask"].to(self.device),
                ).logits
            probs = torch.softmax(logits.float(), dim=-1)[..., 1].cpu()
            for row, ((_, positions), (_, steps)) in enumerate(zip(encoded, chunk, strict=True)):
                scores = [float(probs[row, p]) for p in positions]
                if len(scores) < len(steps):  # steps past max_length
                    scores += [scores[-1] if scores else 0.0] * (len(steps) - len(scores))
                out.append(scores)
        return out

    def score_steps(self, problem: str, steps: Sequence[str]) -> list[float]:
        if not steps:
            return []
        return self.score_batch([(problem, list(steps))])[0]

    def score_solution(self, problem: str, solution: str, aggregate: str = "min") -> float:
        return self.score_solutions([problem], [solution], aggregate)[0]

    def score_solutions(
        self, problems: Sequence[str], solutions: Sequence[str], aggregate: str = "min", batch_size: int = 16
    ) -> list[float]:
        """One score per (problem, solution): split into steps, score, aggregate (best-of-K reranking)."""
        steps = [split_solution(s) for s in solutions]
        scored = iter(
            self.score_batch([(p, s) for p, s in zip(problems, steps, strict=True) if s], batch_size)
        )
        return [_aggregate(next(scored), aggregate) if s else 0.0 for s in steps]
