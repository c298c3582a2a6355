"""The PRM's losses and its ``transformers.Trainer``.

``prm_loss`` is cross-entropy at the step separators only; ``ranking_loss`` is the optional
within-problem pairwise term. TRL 1.x ships no PRM trainer, so ``PRMTrainer`` is a plain
``Trainer`` with its own ``compute_loss`` (and, for the ranking term, batches of whole problems):
every launcher (accelerate, DeepSpeed) works unchanged. ``prm.py`` holds the config and the command.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from reward_models.prm_layout import IGNORE, GroupBatchSampler


def prm_loss(logits: Any, labels: Any, reduction: str = "mean") -> Any:
    """Cross-entropy at labelled positions only: their mean, or with ``reduction="sum"`` their sum.

    logits: ``(batch, seq, 2)``; labels: ``(batch, seq)`` floats, the target P(correct) at step
    separators and ``IGNORE`` (-100) everywhere else. Hard labels (0/1) give the usual CE; soft
    labels give CE against the distribution ``[1 - p, p]``.
    """
    import torch

    mask = labels != IGNORE
    if not bool(mask.any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP) happy on a batch with no labels
    logp = torch.log_softmax(logits[mask].float(), dim=-1)
    target = labels[mask].float()
    per_step = -(target * logp[:, 1] + (1 - target) * logp[:, 0])
    return per_step.sum() if reduction == "sum" else per_step.mean()


def ranking_loss(logits: Any, labels: Any, group: Any, outcome: Any, margin: float = 0.0) -> Any:
    """Within-problem pairwise loss: mean over pairs (i correct, j wrong, same group) of
    ``softplus(margin - (s_i - s_j))``.

    ``s`` is a solution's score as the PRM ranks at inference (``min`` over its steps), taken on the
    log-odds ``logit[1] - logit[0]`` at its labelled separators (monotone in P(correct), so the same
    order); the gradient of the min reaches the weakest step. ``group``: ``(batch,)`` problem index;
    ``outcome``: ``(batch,)`` 1 correct, 0 wrong, -1 left out. Pairs never cross groups; a batch with
    no (correct, wrong) pair in any group gives 0.
    """
    import torch

    mask = labels != IGNORE
    margins = (logits[..., 1] - logits[..., 0]).float()
    scores = margins.masked_fill(~mask, float("inf")).amin(dim=-1)
    has_steps = mask.any(dim=-1)
    right = (outcome == 1) & has_steps
    wrong = (outcome == 0) & has_steps
    pairs = (group[:, None] == group[None, :]) & right[:, None] & wrong[None, :]
    if not bool(pairs.any()):
        return logits.sum() * 0.0
    gaps = scores[:, None] - scores[None, :]
    return torch.nn.functional.softplus(margin - gaps[pairs]).mean()


class PRMTrainer(Trainer):
    """``transformers.Trainer`` whose loss is ``prm_loss``: nothing else changes, so every launcher works.

    With ``ranking_loss_weight > 0`` (``PRMConfig``) it adds ``ranking_loss`` and trains on batches of
    whole problems (``GroupBatchSampler``); the two parts are logged as ``step_loss`` and ``ranking_loss``.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._parts: dict[str, list[float]] = {}

    @property
    def _ranking_weight(self) -> float:
        return float(getattr(self.args, "ranking_loss_weight", 0.0))

    def get_train_dataloader(self) -> Any:
        if self._ranking_weight <= 0:
            return super().get_train_dataloader()
        from functools import partial

        from torch.utils.data import DataLoader
        from transformers.trainer_utils import seed_worker

        sampler = GroupBatchSampler(self.train_dataset["group"], self._train_batch_size, self.args.seed)
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            worker_init_fn=partial(
                seed_worker, num_workers=self.args.dataloader_num_workers, rank=self.args.process_index
            ),
        )
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        group, outcome = inputs.pop("group", None), inputs.pop("outcome", None)
        outputs = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False
        )
        loss, steps_share = self._step_loss(outputs.logits, labels, num_items_in_batch)
        if self._ranking_weight > 0 and group is not None and model.training:
            rank = ranking_loss(outputs.logits, labels, group, outcome, self.args.ranking_margin)
            self._parts.setdefault("step_loss", []).append(float(prm_loss(outputs.logits, labels).detach()))
            self._parts.setdefault("ranking_loss", []).append(float(rank.detach()))
            loss = loss + self._ranking_weight * rank * steps_share
        return (loss, outputs) if return_outputs else loss

    def _step_loss(self, logits: Any, labels: Any, num_items_in_batch: Any) -> tuple[Any, float]:
        """``prm_loss`` as the Trainer expects it, and the factor a per-batch mean must take to match.

        Given ``num_items_in_batch`` (the labelled steps of the whole optimizer step: every micro-batch
        of gradient accumulation and, with ``average_tokens_across_devices``, every process), the
        Trainer neither divides by the accumulation steps nor undoes the processes' gradient mean;
        the loss must be this batch's sum over that count, times the process count, as transformers'
        own losses do. A mean per batch instead weighs a step by its batch's size, so two processes
        (or accumulated micro-batches) learned otherwise than one process with the same batch."""
        if num_items_in_batch is None:
            return prm_loss(logits, labels), 1.0
        processes = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
        total = prm_loss(logits, labels, reduction="sum") / num_items_in_batch * processes
        return total, 1.0 / self.current_gradient_accumulation_steps

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # the mean of each part since the last log, beside the Trainer's total
            for name, values in self._parts.items():
                if values:
                    logs[name] = sum(values) / len(values)
            self._parts = {}
        super().log(logs, start_time)
