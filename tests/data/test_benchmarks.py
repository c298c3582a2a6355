"""Named evaluation sets load from local fixtures in their hub layout, with the right gold answers, and a
gold completion of each scores 100% through ``wizardmath eval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.cli import main
from wizardmath.data import load_problems
from wizardmath.data.benchmarks import BENCHMARKS, clean_answer
from wizardmath.data.loaders import HUB_SOURCES, HUB_SPLITS
from wizardmath.jsonl import DataError

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = {
    "svamp": [("svamp/chal-1", "8"), ("svamp/chal-2", "5"), ("svamp/chal-3", "3.5")],
    "asdiv": [("asdiv/test/0", "9"), ("asdiv/test/1", "2:3")],
    "aime24": [("aime24/60", "1"), ("aime24/61", "12")],
    "aime25": [("aime25/0", "15"), ("aime25/1", "120")],
    "amc23": [("amc23/0", "27"), ("amc23/1", "1.5")],
    "minerva_math": [("minerva_math/test/0", "3 x^{2}"), ("minerva_math/test/1", "\\frac{1}{2}")],
    "olympiadbench": [("olympiadbench/2001", "2"), ("olympiadbench/2002", "2 \\sqrt{2}")],
}


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_fixture_loads_with_gold_answers(name):
    problems = load_problems(name, FIXTURES / f"{name}.jsonl")
    assert [(p.id, p.answer) for p in problems] == EXPECTED[name]
    assert all(p.source == name and p.problem.strip() for p in problems)


def test_svamp_and_asdiv_join_body_and_question():
    first = load_problems("svamp", FIXTURES / "svamp.jsonl")[0]
    assert first.problem == "Tom has 5 red marbles and 3 blue marbles. How many marbles does Tom have?"


def test_hub_names_and_splits():
    assert HUB_SOURCES["aime24"] == ("HuggingFaceH4/aime_2024", (None,)) and HUB_SPLITS["aime24"] == "train"
    assert HUB_SOURCES["olympiadbench"] == ("Hothan/OlympiadBench", ("OE_TO_maths_en_COMP",))
    assert HUB_SOURCES["math"][0] == "EleutherAI/hendrycks_math" and len(HUB_SOURCES["math"][1]) == 7
    assert sum(b.size for b in BENCHMARKS.values()) == 300 + 2305 + 30 + 30 + 40 + 272 + 675


def test_bad_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "svamp.jsonl"
    path.write_text(json.dumps({"Body": "x", "Question": "y"}) + "\n")
    with pytest.raises(DataError, match=r"svamp.jsonl:1: field 'Answer'"):
        load_problems("svamp", path)


def test_clean_answer_edge_cases():
    assert clean_answer("amc23", True) is None and clean_answer("olympiadbench", []) is None
    assert clean_answer("aime25", "007") == "7" and clean_answer("minerva_math", "$x$") == "x"


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_gold_completions_score_100(name, tmp_path):
    problems = load_problems(name, FIXTURES / f"{name}.jsonl")
    completions = tmp_path / "gold.jsonl"
    completions.write_text(
        "".join(
            json.dumps({"id": p.id, "completion": f"Step 1: work.\nThe answer is: {p.answer}"}) + "\n"
            for p in problems
        )
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "--dataset",
                name,
                "--data-path",
                str(FIXTURES / f"{name}.jsonl"),
                "--completions",
                str(completions),
                "--output",
                str(out),
                "--progress",
                "false",
            ]
        )
        == 0
    )
    summary = json.loads((out / f"{name}.summary.json").read_text())
    assert summary["n"] == len(problems) and summary["accuracy"] == 1.0
