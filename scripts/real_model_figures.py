"""The sanity figures of ``scripts/real_model_check.sh``: one line ``figure<TAB>ok|FAIL`` per stage.

    python scripts/real_model_figures.py easy OUT.jsonl N     # N easy word problems with answers
    python scripts/real_model_figures.py STAGE PATH           # the figure of a finished stage

Each check reads the files the stage wrote, never its log, so a stage passes on what it produced.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

NAMES = ["Tom", "Ana", "Li", "Sara", "Omar", "Maya", "Ben", "Zoe"]
ITEMS = ["apples", "pencils", "stickers", "books", "marbles", "cookies"]


def easy_problems(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """One- and two-step word problems with small numbers: a 135M chat model solves some of them."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        a, b = rng.randint(2, 20), rng.randint(2, 9)
        kind = i % 3
        if kind == 0:
            text, answer = (
                f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?",
                a + b,
            )
        elif kind == 1:
            text, answer = f"{name} has {a + b} {item} and gives away {b}. How many {item} are left?", a
        else:
            text, answer = (
                f"{name} buys {b} bags with {a} {item} in each bag. How many {item} is that?",
                a * b,
            )
        rows.append({"id": f"easy-{i}", "problem": text, "answer": str(answer)})
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def result(figure: str, ok: bool) -> tuple[str, bool]:
    return figure, ok


def convert(path: Path) -> tuple[str, bool]:
    chat = (path / "chat_template.jinja").is_file()
    config = read_json(path / "config.json")
    return result(f"{config['model_type']}, {config['num_hidden_layers']} layers, chat template {chat}", chat)


def evolved(path: Path) -> int:
    return sum(1 for r in read_jsonl(path / "problems.jsonl") if (r.get("round") or 0) > 0)


def evolve(path: Path) -> tuple[str, bool]:
    stats = read_json(path / "stats.json")
    accepted = evolved(path)
    return result(f"{accepted} evolved problems accepted, {stats['rejected']} rejected", accepted >= 1)


def evolve_ran(path: Path) -> tuple[str, bool]:
    stats = read_json(path / "stats.json")
    return result(
        f"{evolved(path)} evolved accepted, {stats['rejected']} rejected", stats["retry_pending"] == 0
    )


def solve(path: Path) -> tuple[str, bool]:
    rows = read_jsonl(path / "sft.jsonl")
    stats = read_json(path / "solve_stats.json")
    chat = bool(rows) and all(
        isinstance(r["prompt"], list) and isinstance(r["completion"], list) for r in rows
    )
    return result(f"{len(rows)} verified of {stats['problems']} problems, conversational rows {chat}", chat)


def log_history(path: Path) -> list[dict[str, Any]]:
    states = sorted(
        path.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1])
    )
    return read_json(states[-1])["log_history"] if states else []


def sft(path: Path) -> tuple[str, bool]:
    losses = [row["loss"] for row in log_history(path) if "loss" in row]
    if len(losses) < 4:
        return result(f"{len(losses)} logged losses", False)
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    return result(f"loss {first:.3f} -> {last:.3f} over {len(losses)} steps", last < first)


def irm(path: Path) -> tuple[str, bool]:
    summary = read_json(path / "irm_summary.json")
    pairs, accuracy = summary.get("train_pairs"), summary.get("pairwise_accuracy")
    return result(
        f"{pairs} training pairs, held-out pairwise accuracy {accuracy}", (path / "config.json").is_file()
    )


def labels(path: Path) -> tuple[str, bool]:
    rows = read_jsonl(path)
    steps = [label for r in rows for label in r["labels"]]
    right = sum(bool(x) for x in steps)
    return result(f"{len(rows)} solutions, {len(steps)} steps, {right} labelled right", bool(rows))


def prm(path: Path) -> tuple[str, bool]:
    summary = read_json(path / "prm_summary.json")
    return result(f"step AUC {summary.get('step_auc')}, {summary.get('train_records')} records", True)


def ppo(path: Path) -> tuple[str, bool]:
    rows = [r for r in read_jsonl(path / "metrics.jsonl") if "reward/mean" in r]
    kl = [r.get("kl/mean", 0.0) for r in rows]
    spread = max((r.get("reward/std", 0.0) for r in rows), default=0.0)
    means = {round(r["reward/mean"], 6) for r in rows}
    varies = spread > 0 or len(means) > 1
    finite = bool(kl) and all(math.isfinite(x) for x in kl)
    rollout = sum(r.get("time/rollout", 0.0) for r in rows)
    figure = (
        f"{len(rows)} steps, reward {rows[0]['reward/mean']:.3f} -> {rows[-1]['reward/mean']:.3f} (std up to "
        f"{spread:.3f}), KL {kl[-1]:.4f}, rollout {rollout:.0f} s"
        if rows
        else "no steps"
    )
    return result(figure, finite and varies)


def grpo(path: Path) -> tuple[str, bool]:
    summary = read_json(path / "grpo_summary.json")
    rows = [r for r in log_history(path) if "reward" in r]
    spread = max((r.get("reward_std", 0.0) for r in rows), default=0.0)
    kl = [r.get("kl", 0.0) for r in rows]
    finite = all(math.isfinite(x) for x in kl)
    return result(f"{summary.get('steps')} steps, reward std up to {spread:.3f}", bool(rows) and finite)


def evaluation(path: Path) -> tuple[str, bool]:
    summary = read_json(path)
    found = summary.get("answer_found", 0.0)
    return result(
        f"accuracy {summary['accuracy']:.3f}, answer found {found:.2f}, truncated {summary.get('truncated')}",
        found >= 0.5,
    )


def rerank(path: Path) -> tuple[str, bool]:
    summary = read_json(path)
    key = next((k for k in summary if k.startswith("rerank@")), None)
    return result(f"{key} {summary.get(key)}, maj {summary.get('maj@2')}", key is not None)


CHECKS = {
    "convert": convert,
    "evolve": evolve,
    "evolve_ran": evolve_ran,
    "solve": solve,
    "sft": sft,
    "irm": irm,
    "labels": labels,
    "prm": prm,
    "ppo": ppo,
    "grpo": grpo,
    "eval": evaluation,
    "rerank": rerank,
}


def interval(correct: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion, in percent."""
    if n == 0:
        return (0.0, 0.0)
    z, p = 1.96, correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * max(0.0, centre - half), 100 * min(1.0, centre + half))


def table(out: Path) -> str:
    """The run's held-out table (markdown), one row per evaluated model, with stage times."""
    times = {}
    if (out / "times.tsv").is_file():
        for line in (out / "times.tsv").read_text().splitlines():
            name, seconds = line.split("\t")
            times[name] = int(seconds)
    lines = [
        "| model | greedy accuracy % (95% CI) | answer found | cut at the limit | loops | mean tokens "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    gsm8k = {
        "base_chat": "base_chat",
        "base_wizardmath": "base_wizardmath",
        "sft": "sft_eval",
        "ppo": "ppo_eval",
    }
    lines += eval_rows(out / "eval", gsm8k, times)
    for stage in ("sft", "ppo"):
        if stage in times:
            lines.append(f"\n{stage}: {times[stage]} s")
    if (out / "sym_eval").is_dir():
        lines += ["", "Symbolic world (the demo's held-out problems):", "", *lines[:2]]
        symbolic = {"base": "sym_base", "sft": "sym_eval", "sft_tiny": "sym_eval_tiny"}
        lines += eval_rows(out / "sym_eval", symbolic, times)
        lines += reward_model_rows(out, times)
    return "\n".join(lines)


def eval_rows(folder: Path, names: dict[str, str], times: dict[str, int]) -> list[str]:
    """One table row per evaluation summary in ``folder`` (name -> its stage in times.tsv)."""
    rows = []
    for name, stage in names.items():
        path = folder / f"{name}.summary.json"
        if not path.is_file():
            continue
        s = read_json(path)
        low, high = interval(s["correct"], s["n"])
        rows.append(
            f"| {name} | {100 * s['accuracy']:.1f} ({low:.1f}-{high:.1f}), {s['correct']}/{s['n']} | "
            f"{s.get('answer_found', 0):.2f} | {s.get('truncated', 0)} | {s.get('loops', 0)} | "
            f"{s.get('mean_completion_tokens', 0):.0f} | {times.get(stage, '')} |"
        )
    return rows


def reward_model_rows(out: Path, times: dict[str, int]) -> list[str]:
    """The reward models' validation figures and best-of-8 against one sample and majority vote."""
    rows = []
    if (out / "sym_irm" / "irm_summary.json").is_file():
        s = read_json(out / "sym_irm" / "irm_summary.json")
        rows.append(
            f"\nIRM: pairwise accuracy {s.get('pairwise_accuracy', float('nan')):.3f} on "
            f"{s.get('eval_pairs')} validation pairs ({s.get('train_pairs')} training pairs, "
            f"{times.get('sym_irm', '')} s)"
        )
    if (out / "sym_prm" / "prm_summary.json").is_file():
        s = read_json(out / "sym_prm" / "prm_summary.json")
        rows.append(
            f"PRM: step AUC {s.get('step_auc', float('nan')):.3f} on {s.get('eval_records')} validation "
            f"records ({s.get('train_records')} training records, {times.get('sym_prm', '')} s)"
        )
    if (out / "sym_eval" / "sft_bo8.summary.json").is_file():
        s = read_json(out / "sym_eval" / "sft_bo8.summary.json")
        n = s["n"]
        cells = [
            ("one sample (mean)", s["accuracy"]),
            ("majority of 8", s.get("maj@8")),
            ("PRM best of 8", s.get("rerank@8")),
        ]
        rows.append("\n| 8 samples, T=0.8, first 100 | accuracy % (95% CI) |\n|---|---|")
        for label, rate in cells:
            if rate is not None:
                low, high = interval(round(rate * n), n)
                rows.append(f"| {label} | {100 * rate:.1f} ({low:.1f}-{high:.1f}) |")
    return rows


def main(argv: list[str]) -> int:
    if argv[0] == "table":
        print(table(Path(argv[1])))
        return 0
    if argv[0] == "easy":
        rows = easy_problems(int(argv[2]))
        Path(argv[1]).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return 0
    try:
        figure, ok = CHECKS[argv[0]](Path(argv[1]))
    except (OSError, KeyError, ValueError, IndexError) as err:
        figure, ok = f"unreadable output ({type(err).__name__}: {err})", False
    print(f"{figure}\t{'ok' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
