"""Near-duplicates and decontamination."""

from __future__ import annotations

import json

import pytest

from wizardmath.evol.dedup import (
    ContaminationIndex,
    NearDuplicateIndex,
    contamination_index,
    normalize,
    word_ngrams,
)
from wizardmath.jsonl import DataError


def test_normalize():
    assert normalize("What is $2+2$?\n  Answer \\frac{1}{2}!") == "what is 2 2 answer 1 2"
    assert word_ngrams("a b c d", 3) == {("a", "b", "c"), ("b", "c", "d")}
    assert word_ngrams("a b", 3) == {("a", "b")}


LONG = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily "
    "for $2 per fresh duck egg. "
    "How much in dollars does she make every day at the farmers' market?"
)


def test_near_duplicates():
    index = NearDuplicateIndex(threshold=0.8)
    index.add("a", LONG)
    assert index.find(LONG.upper()) == "a"  # exact after normalisation
    assert index.find(LONG.replace("breakfast", "lunch")) == "a"  # one word changed
    assert index.find("Tom has 5 apples. He buys 3 more apples. How many apples does Tom have now?") is None
    index.add("b", "Tom has 5 apples.")
    assert len(index) == 2


def test_exact_only_index():
    index = NearDuplicateIndex(threshold=1.0)
    index.add("a", LONG)
    assert index.find(LONG + " ") == "a"
    assert index.find(LONG.replace("breakfast", "lunch")) is None
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(threshold=0.0)


def test_contamination_any_ngram_and_threshold():
    strict = ContaminationIndex([LONG], n=13, threshold=0.0)
    assert strict.check(LONG) == "identical to a test problem"
    assert "13-grams" in strict.check("Intro words here. " + LONG[:200])
    assert strict.check("Tom has 5 apples. How many apples does Tom have now?") is None
    loose = ContaminationIndex([LONG], n=8, threshold=0.5)
    assert loose.check("New text that is different. " + " ".join(LONG.split()[:10])) is None


def test_contamination_files(tmp_path, caplog):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps({"question": LONG}) + "\n")
    index = contamination_index([str(path)])
    assert index.check(LONG) and index.sources == [str(path)]
    with pytest.raises(FileNotFoundError, match="missing.jsonl: decontamination test set not found"):
        contamination_index([str(path), str(tmp_path / "missing.jsonl")])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(DataError, match="bad.jsonl:1"):
        contamination_index([str(bad)])


def test_real_gsm8k_test_set(gsm8k_test):
    from wizardmath.jsonl import read_jsonl

    first = read_jsonl(gsm8k_test)[0]["question"]
    index = contamination_index([str(gsm8k_test)])
    assert index.check(first)
    assert index.check("Tom has 5 apples. He buys 3 more apples. How many apples does Tom have now?") is None
