"""The pipeline's report: PRM within-problem pair accuracy and report.png from one or more runs."""

from __future__ import annotations

import json

import pytest

from wizardmath.jsonl import write_jsonl
from wizardmath.pipeline_config import PipelineConfig
from wizardmath.pipeline_report import main, prm_pair_accuracy, wants_style_probe, write_report


def test_prm_pair_accuracy_counts_within_problem_pairs_only(tmp_path):
    path = tmp_path / "sampled.jsonl"
    write_jsonl(
        path,
        [
            {"id": "a", "scores": [0.9, 0.1, 0.5], "correct": [True, False, False]},  # 2 of 2 pairs won
            {"id": "b", "scores": [0.2, 0.8], "correct": [True, False]},  # lost
            {"id": "c", "scores": [0.3, 0.3], "correct": [True, False]},  # tie: half
            {"id": "d", "scores": [0.9, 0.1], "correct": [True, True]},  # no pair
        ],
    )
    assert prm_pair_accuracy(path) == (2 + 0 + 0.5) / 4
    write_jsonl(tmp_path / "none.jsonl", [{"id": "a", "correct": [True]}])
    assert prm_pair_accuracy(tmp_path / "none.jsonl") is None


def _fake_run(folder, accuracy: float) -> None:
    stages = {
        "base": {"accuracy": 0.0},
        "sft_evolved": {"accuracy": accuracy, "sampled_pass@1": accuracy - 0.1},
        "ppo": {"accuracy": accuracy + 0.1},
    }
    (folder / "ppo").mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"stages": stages}))
    write_jsonl(
        folder / "ppo" / "metrics.jsonl",
        [{"step": s, "reward/mean": 0.5 + s / 100, "kl/mean": s / 10} for s in range(1, 9)],
    )
    (folder / "ppo" / "ppo_summary.json").write_text(
        json.dumps({"eval_curve": [[0, 0.5], [4, 0.6], [8, 0.7]]})
    )


def test_write_report_draws_one_or_several_runs(tmp_path):
    runs = [tmp_path / "s0", tmp_path / "s1"]
    for run, accuracy in zip(runs, (0.6, 0.7), strict=True):
        _fake_run(run, accuracy)
    out = write_report(runs[:1], tmp_path / "one.png")
    assert out is not None and out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    main([str(r) for r in runs] + ["-o", str(tmp_path / "both.png")])
    assert (tmp_path / "both.png").stat().st_size > 10_000


def test_style_probe_runs_by_default_only_for_a_teacher_that_mixes_styles():
    clean, mixed = "configs/tiny/solve.yaml", "configs/tiny/solve_style_mix.yaml"
    assert not wants_style_probe("auto", clean) and wants_style_probe("auto", mixed)
    assert wants_style_probe("always", clean) and not wants_style_probe("never", mixed)
    with pytest.raises(ValueError, match="style_probe"):
        PipelineConfig(style_probe="sometimes")
