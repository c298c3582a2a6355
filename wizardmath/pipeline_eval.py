"""What every pipeline stage uses (``StageRunner``: ``summary.json`` rows, timing, run-once) and the
evaluation stages (``EvalStages``: held-out accuracy, sampled metrics and the style probe, the step
checker's reranking); ``wizardmath.pipeline.Pipeline`` adds the training stages and the run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizardmath.jsonl import write_json
from wizardmath.pipeline_config import STAGE_TABLE, STAGES, PipelineConfig, resolve, stage_entry
from wizardmath.pipeline_state import StageState, outdated


class StageRunner:
    """The run's folder and settings, its ``summary.json`` rows (``record``), and the run-once of a
    stage (``once``); ``Pipeline.__init__`` sets the attributes."""

    config: PipelineConfig
    out: Path
    state: StageState
    stages: dict[str, dict[str, Any]]
    contents: dict[str, Any]
    summary_path: Path
    writes_summary: bool

    # -- bookkeeping ---------------------------------------------------------------------------

    def write_summary(self, **extra: Any) -> None:
        """summary.json: the stage rows, ``extra``, and how they were made (``check_resume`` reads it)."""
        if self.writes_summary:
            made = {"config": vars(self.config), "config_contents": self.contents}
            write_json(self.summary_path, {"stages": self.stages, **extra, **made})

    def record(self, stage: str, result: dict[str, Any]) -> None:
        self.stages[stage] = result
        # Rows in the pipeline's stage order, whichever process or run finished them.
        self.stages = {name: self.stages[name] for name in STAGES if name in self.stages}
        self.write_summary()

    def timed(self, label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
        print(f"[pipeline] {label} ...", flush=True)
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        print(f"[pipeline] {label}: done in {seconds:.1f}s", flush=True)
        return value, seconds

    def once(self, label: str, stage: str, cls: type, **overrides: Any) -> dict[str, Any]:
        """Run ``stage``'s entry point on its stage config ``cls`` (YAML + overrides) unless its done
        marker exists (both from ``STAGE_TABLE``); return that summary."""
        from wizardmath.config import load_config

        done = self.state.marker(stage)
        if not done.exists():
            path = resolve(getattr(self.config, STAGE_TABLE[stage].config_key))
            config = load_config(cls, path, seed=self.config.seed, **overrides)
            entry = stage_entry(stage)
            self.timed(label, lambda: entry(config))
        return json.loads(done.read_text())


class EvalStages(StageRunner):
    """The evaluation stages: each writes its figures into the stage's ``summary.json`` row."""

    def evaluate(
        self, stage: str, model: str, test_path: Path, train_examples: int, train_seconds: float
    ) -> None:
        from wizardmath.eval import EvalConfig, evaluate

        config = EvalConfig(
            model=model, dataset="jsonl", data_path=str(test_path), output=str(self.out / "eval" / stage),
            name="heldout", batch_size=self.config.eval_batch_size,
            max_new_tokens=self.config.eval_max_new_tokens, seed=self.config.seed, progress=False,
            overwrite=outdated(self.out / "eval" / stage / "heldout.run.json", self.state.marker(stage)),
        )  # fmt: skip
        summary, seconds = self.timed(f"eval ({stage})", lambda: evaluate(config))
        self.record(
            stage,
            {
                "accuracy": summary["accuracy"],
                "n": summary["n"],
                "train_examples": train_examples,
                "seconds": round(train_seconds + seconds, 1),
                "model": model,
            },
        )

    def sampled(self, stage: str, model: str, test_path: Path, prm: str | None = None) -> None:
        """Sampled metrics (pass@1 at T, maj@k, pass@k; PRM best-of-k and pair accuracy) and the style
        probe."""
        from wizardmath.eval import EvalConfig, evaluate
        from wizardmath.pipeline_report import prm_pair_accuracy, run_style_probe, wants_style_probe

        if self.config.sample_limit < 1:
            return
        k = self.config.sample_k
        models = [
            self.state.marker(stage),
            *([self.state.marker("prm")] if prm else []),
        ]  # the scores' models too
        config = EvalConfig(
            model=model, dataset="jsonl", data_path=str(test_path), output=str(self.out / "eval" / stage),
            name="sampled", batch_size=self.config.eval_batch_size,
            max_new_tokens=self.config.eval_max_new_tokens, seed=self.config.seed, progress=False,
            num_samples=k, temperature=self.config.sample_temperature, limit=self.config.sample_limit,
            rerank="prm" if prm else None, prm=prm,
            overwrite=outdated(self.out / "eval" / stage / "sampled.run.json", *models),
        )  # fmt: skip
        summary, seconds = self.timed(f"sampled eval ({stage})", lambda: evaluate(config))
        row = dict(self.stages.get(stage, {}))
        row.update(
            {
                "sampled_pass@1": summary["accuracy"],
                f"maj@{k}": summary.get(f"maj@{k}"),
                f"pass@{k}": summary.get("pass@k", {}).get(str(k)),
                "sampled_n": summary["n"],
            }
        )
        if prm:
            row[f"prm_best_of_{k}"] = summary.get(f"rerank@{k}")
            row["prm_pair_accuracy"] = prm_pair_accuracy(self.out / "eval" / stage / "sampled.jsonl")
        if wants_style_probe(self.config.style_probe, self.config.solve_config):
            row["style"], probe_seconds = self.timed(
                f"style probe ({stage})",
                lambda: run_style_probe(
                    model, test_path, self.config.sample_limit, self.config.eval_max_new_tokens
                ),
            )
            seconds += probe_seconds
        row["seconds"] = round(row.get("seconds", 0.0) + seconds, 1)
        self.record(stage, row)

    def checker(self, base: str, test_path: Path) -> None:
        """The step checker (trained from the base model on the world's facts) reranks the SFT
        model's samples: best-of-k and pair accuracy in the PRM's columns, on the same samples."""
        from wizardmath.eval import EvalConfig, evaluate
        from wizardmath.pipeline_report import prm_pair_accuracy
        from wizardmath.train.checker import CheckerConfig

        folder, k, out = self.out / "checker", self.config.sample_k, self.out / "eval" / "checker"
        samples = self.out / "eval" / "sft_evolved" / "sampled.jsonl"  # the SFT model's, to rerank
        summary = self.once(
            "train-checker", "checker", CheckerConfig, model=base, output_dir=str(folder), disable_tqdm=True,
        )  # fmt: skip
        config = EvalConfig(
            dataset="jsonl", data_path=str(test_path), output=str(out), name="sampled", progress=False,
            completions=str(samples), num_samples=k,
            limit=self.config.sample_limit, rerank="checker", prm=str(folder), seed=self.config.seed,
            overwrite=outdated(out / "sampled.run.json", self.state.marker("checker"), samples),
        )  # fmt: skip
        scored, seconds = self.timed("checker best-of-k", lambda: evaluate(config))
        self.record(
            "checker",
            {
                "train_examples": summary["examples"],
                "sampled_pass@1": scored["accuracy"],
                f"prm_best_of_{k}": scored.get(f"rerank@{k}"),
                "prm_pair_accuracy": prm_pair_accuracy(out / "sampled.jsonl"),
                "seconds": round(summary["seconds"] + seconds, 1),
                "model": str(folder),
            },
        )
