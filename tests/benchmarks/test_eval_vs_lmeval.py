"""benchmarks/eval_vs_lmeval.py and lmeval_peer.py: the disagreement causes, the offline task copy and
the folding of lm-eval's logged samples (pure helpers; no model, no lm-eval needed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load("eval_vs_lmeval")


@pytest.fixture(scope="module")
def peer():
    return load("lmeval_peer")


def row(bench, **changes):
    base = dict(
        index=0, ours_correct=True, ours_answer="18", ours_finish="stop", ours_tokens=120,
        ours_prompt_tokens=90, peer_correct={"strict-match": True, "flexible-extract": True},
        peer_answer={"strict-match": "18", "flexible-extract": "18"}, peer_by_verifier=True,
        peer_stated_answer=True, peer_tokens=80, peer_prompt_tokens=700, peer_prompt_cut=False,
    )  # fmt: skip
    return bench.Row(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        # agreement: no cause
        ({}, None),
        ({"ours_correct": False, "peer_correct": {"strict-match": False}, "peer_by_verifier": False}, None),
        # the same lm-eval text, graded right by our verifier but not by the regex ("18 dollars." no ####)
        ({"peer_correct": {"strict-match": False}, "peer_by_verifier": True}, "answer extraction"),
        # ours wrong after running out of tokens
        ({"ours_correct": False, "ours_finish": "length", "peer_by_verifier": True}, "truncation"),
        # lm-eval wrong with its prompt cut to fit the context
        ({"peer_correct": {"strict-match": False}, "peer_by_verifier": False, "peer_prompt_cut": True},
         "truncation"),
        # lm-eval wrong at the token budget
        ({"peer_correct": {"strict-match": False}, "peer_by_verifier": False, "peer_tokens": 256},
         "truncation"),
        # lm-eval stopped ("Question:") before stating any answer
        ({"peer_correct": {"strict-match": False}, "peer_by_verifier": False, "peer_stated_answer": False},
         "stop sequence"),
        # both texts graded alike: the prompts led to different answers
        ({"peer_correct": {"strict-match": False}, "peer_by_verifier": False}, "prompt format"),
        ({"ours_correct": False, "peer_by_verifier": True}, "prompt format"),
    ],
)  # fmt: skip
def test_classify(bench, changes, cause):
    assert bench.classify(row(bench, **changes), "strict-match", 256) == cause


def test_agreement_counts(bench):
    rows = [
        row(bench),
        row(bench, ours_correct=False, peer_by_verifier=True),
        row(bench, peer_correct={"strict-match": False, "flexible-extract": True}, peer_by_verifier=True),
    ]
    table = bench.agreement(rows, "strict-match", 256)
    assert (table["both right"], table["lm-eval only"], table["ours only"]) == (1, 1, 1)
    assert table["answer extraction"] == 1 and table["prompt format"] == 1


def test_task_config_reads_local_files(peer):
    source = {
        "tag": ["math_word_problems"], "task": "gsm8k", "dataset_path": "openai/gsm8k",
        "dataset_name": "main", "num_fewshot": 5, "generation_kwargs": {"until": ["Question:"]},
    }  # fmt: skip
    config = peer.task_config(source, "/d/test.jsonl", "/d/train.jsonl", 128, 3)
    assert config["task"] == peer.TASK and "tag" not in config
    assert config["dataset_path"] == "json" and config["dataset_name"] is None
    assert config["dataset_kwargs"] == {"data_files": {"train": "/d/train.jsonl", "test": "/d/test.jsonl"}}
    assert config["generation_kwargs"] == {"until": ["Question:"], "max_gen_toks": 128}
    assert config["num_fewshot"] == 3 and source["num_fewshot"] == 5  # the source is left alone


def test_collect_samples_folds_filters(peer):
    def sample(doc, filt, ok, answer):
        return {"doc_id": doc, "arguments": [["Q: ...\nA:", {}]], "resps": [[" 9 * 2 = 18\n#### 18"]],
                "filter": filt, "exact_match": float(ok), "filtered_resps": [answer]}  # fmt: skip

    folded = peer.collect_samples(
        [sample(1, "strict-match", False, "[invalid]"), sample(0, "strict-match", True, "18"),
         sample(0, "flexible-extract", True, "18"), sample(1, "flexible-extract", True, "3")]
    )  # fmt: skip
    assert [s.doc_id for s in folded] == [0, 1]
    assert folded[1].correct == {"strict-match": False, "flexible-extract": True}
    assert folded[1].answer["strict-match"] == "[invalid]" and folded[0].text.endswith("#### 18")


@pytest.mark.parametrize(
    ("solution", "answer", "expected"),
    [
        # a WizardMath solution: its answer line becomes GSM8k's "#### X"
        (
            " Step 1: 7 - 4 = 3.\nStep 2: 3 + 6 = 9.\nThe answer is: 9",
            "9",
            "Step 1: 7 - 4 = 3.\nStep 2: 3 + 6 = 9.\n#### 9",
        ),
        # no answer line: the gold answer is appended all the same
        ("3 + 6 = 9.", "9", "3 + 6 = 9.\n#### 9"),
        ("", "9", "#### 9"),
    ],
)
def test_gsm8k_answer(bench, solution, answer, expected):
    assert bench.gsm8k_answer(solution, answer) == expected
