"""The pipeline's extra measurements and its figure (``report.png``).

- ``prm_pair_accuracy``: within one problem, how often the PRM scores a correct sample above a wrong one
  (the ranking best-of-N needs; a step AUC over all problems can be high without it).
- ``run_style_probe``: the tiny world's style probe (``wizardmath.eval.style``) on a saved model.
- ``print_table``: the per-stage table printed at the end of ``wizardmath pipeline``.
- ``write_report``: held-out accuracy per stage (mean and spread over the runs given: one per seed) and
  the PPO curves (reward, KL, validation accuracy by step) beside the random-reward control's.

Several runs into one figure:
``python -m wizardmath.pipeline_report runs/s0 runs/s1 runs/s2 -o report.png``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardmath.eval.metrics import pair_wins
from wizardmath.jsonl import OWN_FILE, read_jsonl

ACCURACY_STAGES = ("base", "sft_seed", "sft_evolved", "ppo", "ppo_paper", "ppo_random")
PPO_RUNS = ("ppo", "ppo_paper", "ppo_random")


def prm_pair_accuracy(path: str | Path) -> float | None:
    """Share of (correct, wrong) sample pairs of one problem where the correct one scores higher
    (ties: half)."""
    wins, pairs = 0.0, 0
    for record in read_jsonl(path, max_bytes=OWN_FILE):
        scores, correct = record.get("scores"), record.get("correct") or []
        if not scores or len(scores) != len(correct):
            continue
        record_wins, record_pairs = pair_wins(scores, correct)
        wins, pairs = wins + record_wins, pairs + record_pairs
    return wins / pairs if pairs else None


def wants_style_probe(style_probe: str, solve_config: str) -> bool:
    """The pipeline's ``style_probe`` setting resolved: ``auto`` probes only a teacher that mixes styles
    (the solve config's ``decomposed_share`` < 1)."""
    if style_probe != "auto":
        return style_probe == "always"
    from wizardmath.args import parse_backend_args
    from wizardmath.config import load_config
    from wizardmath.evol import SolveConfig
    from wizardmath.pipeline_config import resolve

    config = load_config(SolveConfig, resolve(solve_config))
    share = parse_backend_args(list(config.backend_args or [])).get("decomposed_share", 1.0)
    return float(share) < 1.0


def run_style_probe(model: str, test_path: str | Path, limit: int, max_new_tokens: int) -> dict[str, float]:
    """``eval.style.style_probe`` of the model folder ``model`` on the first ``limit`` problems of
    ``test_path``: its style choice at the first completion token and its accuracy per forced style."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from wizardmath.data.records import MathProblem
    from wizardmath.eval.style import style_probe

    problems = [MathProblem.from_dict(r) for r in list(read_jsonl(test_path))[:limit]]
    tokenizer = AutoTokenizer.from_pretrained(model)
    policy = AutoModelForCausalLM.from_pretrained(model)
    return style_probe(policy, tokenizer, problems, max_new_tokens=max_new_tokens)


def _summary(run: Path) -> dict[str, Any]:
    path = run / "summary.json"
    return json.loads(path.read_text()).get("stages", {}) if path.exists() else {}


def write_report(runs: list[Path], output: Path) -> Path | None:
    """Bars: held-out greedy accuracy (and sampled pass@1) per stage, mean over ``runs`` with min-max
    whiskers; curves: each PPO run's reward, KL and validation accuracy by step, every seed drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[pipeline] matplotlib is not installed: no report.png")
        return None
    summaries = [_summary(Path(r)) for r in runs]
    stages = [s for s in ACCURACY_STAGES if any(s in summary for summary in summaries)]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    for offset, (key, label) in enumerate(
        (("accuracy", "greedy"), ("sampled_pass@1", "sampled pass@1 (T=0.8)"))
    ):
        means, lows, highs = [], [], []
        for stage in stages:
            values = [100 * s[stage][key] for s in summaries if s.get(stage, {}).get(key) is not None]
            mean = sum(values) / len(values) if values else 0.0
            means.append(mean)
            lows.append(mean - min(values, default=mean))
            highs.append(max(values, default=mean) - mean)
        xs = [i + 0.4 * offset for i in range(len(stages))]
        axes[0].bar(xs, means, 0.4, yerr=[lows, highs], capsize=3, label=label)
    axes[0].set_xticks([i + 0.2 for i in range(len(stages))], stages, rotation=30)
    axes[0].set_ylabel("held-out accuracy (%)")
    axes[0].set_title(f"accuracy per stage ({len(runs)} run(s): mean, min-max)")
    axes[0].legend(fontsize=8)
    colours = {"ppo": "tab:blue", "ppo_paper": "tab:green", "ppo_random": "tab:red"}
    for ax, key, title in zip(
        axes[1:],
        ("reward/mean", "kl/mean", "eval/accuracy"),
        ("training reward", "KL to the reference (nats/response)", "validation accuracy"),
        strict=True,
    ):
        for run in runs:
            for name in PPO_RUNS:
                path = Path(run) / name / "metrics.jsonl"
                if not path.exists():
                    continue
                rows = [r for r in read_jsonl(path, max_bytes=OWN_FILE) if key in r]
                points = [(r["step"], r[key]) for r in rows]
                if key == "eval/accuracy":  # the starting policy's validation accuracy is step 0
                    state = Path(run) / name / "ppo_summary.json"
                    curve = json.loads(state.read_text()).get("eval_curve") if state.exists() else None
                    points = [tuple(p) for p in curve] if curve else points
                if points:
                    ax.plot(
                        *zip(*points, strict=True),
                        color=colours[name],
                        alpha=0.7,
                        label=name if run == runs[0] else None,
                    )
        ax.set_xlabel("PPO step")
        ax.set_title(title)
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def _first(row: dict[str, Any], prefix: str) -> Any:
    return next((v for k, v in row.items() if k.startswith(prefix)), None)


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "-"


def print_table(stages: dict[str, dict[str, Any]], total: float, order: Sequence[str]) -> None:
    """Stage, training examples, held-out metric, sampled metrics (T = 0.8), time, one row per stage of
    ``order`` that ran; reward models show their own metric."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"wizardmath pipeline ({total:.0f}s in all)")
    columns = (
        "stage",
        "train ex.",
        "held-out",
        "n",
        "T=0.8 p@1",
        "maj@k",
        "pass@k",
        "PRM bo-k",
        "PRM pairs",
        "s",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name in order:
        if name not in stages:
            continue
        row = stages[name]
        if "accuracy" in row:
            metric, n, examples = f"{100 * row['accuracy']:.1f}%", row.get("n"), row.get("train_examples")
        elif "pairwise_accuracy" in row:
            metric, n, examples = (
                f"pairs {100 * row['pairwise_accuracy']:.1f}%",
                row.get("eval_pairs"),
                row.get("train_pairs"),
            )
        elif "step_auc" in row:
            metric, n = f"AUC {row['step_auc']:.3f}", row.get("eval_records")
            examples = row.get("train_records")
        else:  # the step checker: its figures are in the best-of-k columns
            metric, n, examples = "-", None, row.get("train_examples")
        table.add_row(
            name,
            str(examples if examples is not None else "-"),
            metric,
            str(n if n is not None else "-"),
            _percent(row.get("sampled_pass@1")),
            _percent(_first(row, "maj@")),
            _percent(_first(row, "pass@")),
            _percent(_first(row, "prm_best_of_")),
            f"{row['prm_pair_accuracy']:.3f}" if row.get("prm_pair_accuracy") is not None else "-",
            str(row.get("seconds", "-")),
        )
    Console(width=max(120, Console().width)).print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One report.png from several pipeline runs (one per seed).")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("report.png"))
    args = parser.parse_args(argv)
    print(write_report(args.runs, args.output))


if __name__ == "__main__":
    main()
