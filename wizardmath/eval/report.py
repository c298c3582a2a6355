"""What a person sees: a rich table of the summary, and optional wandb logging (lazy, offline by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wizardmath.args import report_targets
from wizardmath.eval.config import EvalConfig


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) rows of the main table; percentages for rates."""
    rows = [
        ("accuracy (%)", _pct(summary["accuracy"])),
        ("correct / n", f"{summary['correct']} / {summary['n']}"),
    ]
    for k, value in summary.get("pass@k", {}).items():
        rows.append((f"pass@{k} (%)", _pct(value)))
    for key in sorted(summary):
        if key.startswith(("maj@", "rerank@", "weighted_maj@")):
            rows.append((f"{key} (%)", _pct(summary[key])))
    rows.append(("no answer found (samples)", str(summary["no_answer"])))
    if summary.get("mean_completion_tokens"):
        rows.append(("mean completion tokens", f"{summary['mean_completion_tokens']:.1f}"))
    if summary.get("missing"):
        rows.append(("missing (not yet evaluated)", str(summary["missing"])))
    rows.append(("wall time (s)", f"{summary['wall_time_s']:.1f}"))
    if summary.get("problems_per_s"):
        rows.append(("problems / s (this run)", f"{summary['problems_per_s']:.2f}"))
    return rows


def print_summary(summary: dict[str, Any], failed: int = 0, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    settings = summary.get("settings", {})
    source = settings.get("model") or settings.get("completions")
    title = f"wizardmath eval: {settings.get('dataset', '?')} / {source}"
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary_rows(summary):
        table.add_row(name, value)
    console.print(table)
    for key, label in (("by_level", "level"), ("by_subject", "subject")):
        groups = summary.get(key) or {}
        if not groups:
            continue
        sub = Table(show_header=True)
        sub.add_column(label)
        sub.add_column("n", justify="right")
        sub.add_column("accuracy (%)", justify="right")
        for name, row in groups.items():
            sub.add_row(name, str(row["n"]), _pct(row["accuracy"]))
        console.print(sub)
    for name, score in (summary.get("paper_results") or {}).items():
        console.print(f"  reference: {name} {score} (paper, greedy pass@1, full test set)")
    if failed:
        console.print(
            f"[yellow]{failed} problems failed in the backend and were not written; rerun to retry them.[/]"
        )
    files = summary.get("files", {})
    if files:
        console.print(f"results: {files.get('results')}  summary: {files.get('summary')}")


class WandbLogger:
    """A wandb run for one evaluation: running accuracy as it goes, the summary at the end."""

    def __init__(self, config: EvalConfig, output: Path):
        config.setup_reporting()
        try:
            import wandb
        except ImportError as err:
            raise ImportError("report_to=wandb needs wandb: pip install wandb") from err
        self.run = wandb.init(
            project=config.wandb_project,
            dir=str(output),
            job_type="eval",
            config=config.run_settings(),
            name=config.name,
        )

    def log(self, metrics: dict[str, Any]) -> None:
        self.run.log(metrics)

    def finish(self, summary: dict[str, Any]) -> None:
        flat = {k: v for k, v in summary.items() if isinstance(v, int | float)}
        flat.update({f"pass@{k}": v for k, v in summary.get("pass@k", {}).items()})
        flat.update({f"level/{k}": v["accuracy"] for k, v in summary.get("by_level", {}).items()})
        flat.update({f"subject/{k}": v["accuracy"] for k, v in summary.get("by_subject", {}).items()})
        self.run.summary.update(flat)
        self.run.finish()


def open_logger(config: EvalConfig, paths: dict[str, Path]) -> WandbLogger | None:
    if "wandb" not in report_targets(config.report_to):
        return None
    paths["jsonl"].parent.mkdir(parents=True, exist_ok=True)
    return WandbLogger(config, paths["jsonl"].parent)
