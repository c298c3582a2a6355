"""``--rerank prm --prm PATH``: best-of-K through the reward-model package's ``ProcessRewardModel``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.eval import EvalConfig, evaluate
from wizardmath.eval.config import RERANKERS
from wizardmath.eval.runner import SCORERS

pytest.importorskip("reward_models.prm", reason="the reward_models package is not in this checkout")


def test_every_listed_reranker_has_a_builder() -> None:
    assert set(RERANKERS) == set(SCORERS)


@pytest.mark.slow
def test_rerank_with_an_untrained_prm(tiny_model_dir: Path, small_problems, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from reward_models.prm import ProcessRewardModel

    prm_dir = tmp_path / "prm"
    AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=2).save_pretrained(prm_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(prm_dir)
    texts = [
        "Step 1: 1 + 1 = 2.\nThe answer is: 2",
        "Step 1: 1 + 1 = 3.\nThe answer is: 3",
        "The answer is: 2",
    ]
    completions = tmp_path / "c.jsonl"
    completions.write_text(json.dumps({"id": "a", "completions": texts}) + "\n")
    summary = evaluate(
        EvalConfig(
            completions=str(completions),
            rerank="prm",
            prm=str(prm_dir),
            output=str(tmp_path / "out"),
            progress=False,
            verify_workers=0,
        ),
        problems=small_problems,
    )
    record = json.loads(next((tmp_path / "out").glob("*.jsonl")).read_text())
    expected = ProcessRewardModel.from_pretrained(str(prm_dir)).score_solutions(
        ["1+1"] * 3, texts, aggregate="min"
    )
    assert record["scores"] == pytest.approx(expected)
    assert len({round(s, 9) for s in expected}) == 3  # distinct scores, so the picks below depend on them
    assert record["correct"] == [True, False, True]
    best_is_right = record["correct"][max(range(3), key=lambda i: (expected[i], -i))]
    assert summary["rerank@3"] == float(best_is_right)
    # the score-weighted vote: answer 2 (texts 0 and 2) against answer 3 (text 1)
    assert summary["weighted_maj@3"] == float(expected[0] + expected[2] > expected[1])
    assert summary["settings"]["prm_aggregate"] == "min"
