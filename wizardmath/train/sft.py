"""Supervised fine-tuning on step-by-step solutions: TRL's ``SFTTrainer`` with WizardMath defaults.

Data is TRL's prompt/completion format, one JSONL line per example, as ``wizardmath solve`` writes::

    {"id": "...", "prompt": "Below is an instruction ... Let's think step by step.",
     "completion": " Step 1: ... The answer is: 6"}

The loss is on the completion only (TRL's ``completion_only_loss``). Full fine-tuning or LoRA (peft),
optional packing, gradient checkpointing, bf16 where the hardware has it, checkpoints every
``save_steps`` and automatic resume from the last one in ``output_dir``. Multi-GPU and multi-node
runs are the same command under ``accelerate launch --config_file configs/accelerate/...`` (DeepSpeed
ZeRO-2/3 configs in ``configs/deepspeed/``). The saved folder loads with ``from_pretrained`` and is
what ``wizardmath eval --model DIR`` evaluates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import SFTConfig as TRLSFTConfig

from wizardmath.args import (
    ModelArguments,
    ReportArguments,
    RunArguments,
    bf16_supported,  # noqa: F401  (grpo.py imports it from here until it adopts ModelArguments)
    check_limit,
    resolve_dtype,
)
from wizardmath.jsonl import DataError, iter_jsonl, write_json


@dataclass
class SFTConfig(ModelArguments, ReportArguments, RunArguments, TRLSFTConfig):
    """TRL's ``SFTConfig`` (every TrainingArguments flag works) plus the shared model and report
    arguments (``wizardmath.args``) and what SFT adds."""

    dataset: str = field(
        default="jsonl",
        metadata={
            "help": (
                "'jsonl' for --data_path, or a hub name / local data-set folder with prompt/completion "
                "columns."
            )
        },
    )
    data_path: str | None = field(
        default=None, metadata={"help": "Prompt/completion JSONL (the output of `wizardmath solve`)."}
    )
    eval_data_path: str | None = field(
        default=None, metadata={"help": "Optional held-out prompt/completion JSONL for eval loss."}
    )
    max_samples: int | None = field(
        default=None, metadata={"help": "Train on at most this many examples (after shuffling)."}
    )

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError(
                "sft needs --model: the base model folder (e.g. from `wizardmath init-tiny`) or a hub name"
            )
        if self.dataset == "jsonl" and not self.data_path:
            raise ValueError(
                "sft needs training data: "
                "set --data_path FILE.jsonl (prompt/completion lines) or --dataset NAME"
            )
        if self.output_dir in (None, "", "trainer_output"):
            raise ValueError(
                "sft needs --output DIR (alias of --output_dir): where checkpoints and the model go"
            )
        check_limit(self.max_samples, "max_samples")
        super().__post_init__()

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """A warm-up ratio rounds down to whole steps. transformers rounds it up, so 3% of a 20-step run
        became one warm-up step, whose learning rate is 0: the first step trained nothing."""
        if 0 < self.warmup_steps < 1:
            return int(num_training_steps * self.warmup_steps)
        return super().get_warmup_steps(num_training_steps)


def _row_kind(value: Any) -> str | None:
    """'text' for a non-empty string, 'messages' for a non-empty list of ``{role, content}`` messages
    (TRL's conversational format, as ``solve`` writes with the chat template), else None."""
    if isinstance(value, str):
        return "text" if value else None
    if isinstance(value, list) and value:
        ok = all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in value
        )
        return "messages" if ok else None
    return None


def _check_examples(path: str) -> tuple[int, str]:
    """Validate every line before training so a bad row fails in seconds, naming file, line and field.

    Returns the count and the file's kind: 'text' (prompt/completion strings) or 'messages'
    (conversational rows, rendered with the model's chat template). One file holds one kind."""
    count, kind = 0, None
    for line, record in iter_jsonl(path, required=("prompt", "completion")):
        kinds = {}
        for name in ("prompt", "completion"):
            kinds[name] = _row_kind(record[name])
            if kinds[name] is None:
                raise DataError(
                    path,
                    line,
                    "expected a non-empty string or a list of {role, content} messages",
                    field=name,
                )
        if kinds["prompt"] != kinds["completion"]:
            raise DataError(
                path,
                line,
                f"prompt is {kinds['prompt']} but completion is {kinds['completion']}",
                field="completion",
            )
        if kind is not None and kinds["prompt"] != kind:
            raise DataError(path, line, f"a {kinds['prompt']} row in a file of {kind} rows", field="prompt")
        kind = kinds["prompt"]
        count += 1
    if count == 0:
        raise DataError(path, None, "no examples")
    return count, kind or "text"


def load_sft_dataset(config: SFTConfig, path: str | None = None):
    """A ``datasets.Dataset`` with ``prompt`` and ``completion`` columns (local JSONL or a hub/local set)."""
    from datasets import load_dataset

    path = path or config.data_path
    if config.dataset == "jsonl" or path != config.data_path:
        _, kind = _check_examples(path)
        data = load_dataset("json", data_files=path, split="train")
        if kind == "messages":  # only the role and content of each message: other keys confuse templates
            data = data.map(
                lambda row: {
                    k: [{"role": m["role"], "content": m["content"]} for m in row[k]]
                    for k in ("prompt", "completion")
                }
            )
    else:
        data = load_dataset(config.dataset, split="train")
        missing = {"prompt", "completion"} - set(data.column_names)
        if missing:
            raise DataError(
                config.dataset, None, "missing column(s) in the data set", field=", ".join(sorted(missing))
            )
    data = data.select_columns(["prompt", "completion"])
    if config.max_samples is not None and len(data) > config.max_samples:
        data = data.shuffle(seed=config.seed).select(range(config.max_samples))
    return data


def load_model_and_tokenizer(
    name: str, torch_dtype: str = "auto", trust_remote_code: bool = False, use_cpu: bool = False
):
    """A causal LM and its tokenizer with a pad token (LLaMA-2 ships none: reuse eos)."""
    from wizardmath.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = resolve_dtype(torch_dtype, use_cpu)
    model = load_causal_lm(name, dtype=dtype, trust_remote_code=trust_remote_code)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _is_conversational(data: Any) -> bool:
    return len(data) > 0 and isinstance(data[0]["prompt"], list)


def train_sft(config: SFTConfig) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``config.data_path`` and save it to ``config.output_dir``.

    Resuming a checkpoint is only for the same data and settings (else a clear refusal), and a run
    that trains 0 steps is an error, never a summary (the old model would ship as new)."""
    from wizardmath.resume import run_trainer

    return run_trainer(config, "sft", _train_sft)


def _train_sft(config: SFTConfig) -> dict[str, Any]:
    from trl import SFTTrainer

    from wizardmath.resume import start_run, train_resumable, trainer_settings

    config.setup_reporting()
    start = time.perf_counter()
    train_data = load_sft_dataset(config)
    eval_data = load_sft_dataset(config, config.eval_data_path) if config.eval_data_path else None
    model, tokenizer = load_model_and_tokenizer(
        config.model, config.torch_dtype, config.trust_remote_code, config.use_cpu
    )
    if _is_conversational(train_data) and not getattr(tokenizer, "chat_template", None):
        raise DataError(
            config.data_path,
            1,
            f"conversational rows (lists of messages) need a model with a chat template; {config.model} has "
            "none: write the data with solve --template wizardmath, or start from a chat model",
            field="prompt",
        )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=config.to_peft_config(),
    )
    settings = trainer_settings(config, config.data_path, config.eval_data_path)
    resume = start_run(config, "sft", settings, ["sft_summary.json"])
    result = train_resumable(trainer, config, "sft", resume)
    if trainer.is_world_process_zero():  # one writer: ranks writing the same files at once can tear them
        tokenizer.save_pretrained(config.output_dir)
    summary = {
        "model": config.model,
        "examples": len(train_data),
        "train_loss": result.training_loss,
        "steps": result.global_step,
        "resumed_from": resume,
        "seconds": round(time.perf_counter() - start, 2),
        "output_dir": config.output_dir,
    }
    if trainer.is_world_process_zero():
        write_json(Path(config.output_dir) / "sft_summary.json", summary)
    return summary
