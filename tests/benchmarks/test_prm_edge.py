"""benchmarks/prm_edge.py: the claim positions and labels its in-context verifier trains and ranks on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "prm_edge.py"


@pytest.fixture(scope="module")
def prm_edge():
    spec = importlib.util.spec_from_file_location("prm_edge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_record_file(folder: Path, record: dict) -> str:
    path = folder / "records.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return str(path)


@pytest.mark.parametrize(
    ("claim", "holds"),
    [
        (("16", "+", "4", "20"), True),
        (("16", "+", "4", "21"), False),
        (("9", "-", "3", "6"), True),
        (("6", "*", "7", "42"), True),
        (("12", "/", "4", "3"), True),
        (("13", "/", "4", "3"), False),
        (("5", "/", "0", "0"), False),
    ],
)
def test_claim_holds(prm_edge, claim, holds):
    assert prm_edge.claim_holds(*claim) is holds


def test_encode_finds_each_claims_result_tokens(prm_edge, tiny_model_dir):
    scorer = prm_edge.InContextScorer(str(tiny_model_dir))
    ids, claims = scorer.encode(
        "Ann has 16 coins. She buys 4 more. She gives 3 away.",
        [
            "Step 1: She buys 4 more, so 16 + 4 = 20.",
            "Step 2: She gives 3 away, so 20 - 3 = 18.",
            "The answer is: 18",
        ],
    )
    assert [len(step) for step in claims] == [1, 1, 0]
    results = [scorer.tokenizer.decode([ids[t] for t in step[0][0]]) for step in claims[:2]]
    assert [r.strip() for r in results] == ["20", "18"]
    assert [step[0][1] for step in claims[:2]] == [True, False]


def test_labelled_marks_only_the_first_false_steps_wrong_claims(prm_edge, tiny_model_dir, tmp_path):
    record = {
        "prompt": "Ann has 16 coins. She buys 4 more. She gives 3 away. She buys 2 more.",
        "completions": [
            "so 16 + 4 = 20.",
            "so 2 * 2 = 4, then 20 - 3 = 18.",
            "so 18 + 2 = 21.",
            "The answer is: 21",
        ],
        "labels": [True, False, None, None],
    }
    scorer = prm_edge.InContextScorer(str(tiny_model_dir))
    [(_, kept)] = scorer.labelled(one_record_file(tmp_path, record))
    rights = [[right for _, right in step] for step in kept]
    assert rights == [[True], [True, False]]  # step 3 is unlabelled: left out


def test_rank_scores_best_of_k_and_pairs_in_range(prm_edge, tiny_model_dir, tmp_path):
    samples = {
        "problem": "Ann has 16 coins. She buys 4 more.",
        "completions": [
            " Step 1: so 16 + 4 = 20.\nThe answer is: 20",
            " Step 1: so 16 + 4 = 21.\nThe answer is: 21",
        ],
        "correct": [True, False],
    }
    best_of_k, pairs = prm_edge.InContextScorer(str(tiny_model_dir)).rank(one_record_file(tmp_path, samples))
    assert best_of_k in (0.0, 1.0)
    assert pairs in (0.0, 0.5, 1.0)
