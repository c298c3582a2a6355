"""Loaders: one test per data set and per bad-input case; real copies come from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.data import MathProblem, gsm8k_answer, load_problems, save_problems
from wizardmath.jsonl import DataError


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# --- real data --------------------------------------------------------------------------------


def test_gsm8k_test_set(gsm8k_test):
    problems = load_problems("gsm8k", gsm8k_test)
    assert len(problems) == 1319
    first = problems[0]
    assert first.id == "gsm8k/test/0" and first.answer == "18" and first.source == "gsm8k"
    assert first.problem.startswith("Janet")
    assert "<<16-3-4=9>>" in first.solution
    # Commas in "#### 1,200" are thousands separators: the answer is the bare number.
    assert all("," not in p.answer for p in problems)
    assert any(len(p.answer) >= 4 for p in problems)


def test_gsm8k_train_set_with_limit(gsm8k_train):
    problems = load_problems("gsm8k", gsm8k_train, split="train", limit=5)
    assert [p.id for p in problems] == [f"gsm8k/train/{i}" for i in range(5)]


def test_math500(math500_test):
    problems = load_problems("math500", math500_test)
    assert len(problems) == 500
    first = problems[0]
    assert first.answer == r"\left( 3, \frac{\pi}{2} \right)"
    assert first.level == 2 and first.subject == "Precalculus" and first.source == "math"
    assert all(p.level in range(1, 6) for p in problems)


# --- formats ------------------------------------------------------------------------------------


def test_math_original_format_level_strings_and_boxed(tmp_path):
    path = write_jsonl(
        tmp_path / "math.jsonl",
        [
            {
                "problem": "What is $1+1$?",
                "solution": "Clearly $1+1=\\boxed{2}$.",
                "level": "Level 3",
                "type": "Algebra",
            },
            {
                "problem": "Nested?",
                "solution": "So $\\boxed{\\frac{1}{\\sqrt{2}}}$.",
                "level": "Level ?",
                "type": "Geometry",
            },
        ],
    )
    first, second = load_problems("math", path, split="train")
    assert (first.answer, first.level, first.subject, first.id) == ("2", 3, "Algebra", "math/train/0")
    assert second.answer == "\\frac{1}{\\sqrt{2}}" and second.level is None


def test_generic_jsonl_with_field_map_and_guesses(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"q": "2+2?", "final": 4, "uid": "x1"}])
    (problem,) = load_problems("jsonl", path, field_map={"problem": "q", "answer": "final"})
    assert (problem.id, problem.problem, problem.answer) == ("x1", "2+2?", "4")
    path2 = write_jsonl(tmp_path / "guess.jsonl", [{"question": "3+3?", "answer": "work\n#### 6"}])
    (guessed,) = load_problems("jsonl", path2)
    assert guessed.answer == "6" and guessed.id == "guess/test/0"


def test_generic_keeps_record_fields_and_extra_meta(tmp_path):
    row = {
        "id": "e1",
        "problem": "p",
        "answer": "1",
        "parent_id": "s1",
        "round": 2,
        "operation": "deepen",
        "note": "hi",
    }
    (problem,) = load_problems("jsonl", write_jsonl(tmp_path / "evo.jsonl", [row]))
    assert (problem.parent_id, problem.round, problem.operation) == ("s1", 2, "deepen")
    assert problem.meta == {"note": "hi"}


def test_json_and_parquet_files(tmp_path):
    rows = [{"problem": "a", "answer": "1"}, {"problem": "b", "answer": "2"}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    assert [p.answer for p in load_problems("jsonl", tmp_path / "d.json")] == ["1", "2"]
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert [p.problem for p in load_problems("jsonl", tmp_path / "d.parquet")] == ["a", "b"]


def test_hub_path_through_load_dataset_on_a_local_folder(tmp_path):
    """The hub code path is `datasets.load_dataset(name, split=...)`; a local folder stands in for the hub."""
    folder = tmp_path / "my-org__my-math"
    folder.mkdir()
    write_jsonl(
        folder / "test.jsonl", [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}]
    )
    problems = load_problems(str(folder), split="test")
    assert [p.answer for p in problems] == ["2", "4"]
    assert problems[0].id == "my-org__my-math/test/0"


def test_gsm8k_answer():
    assert gsm8k_answer("a\n#### 1,234") == "1234"
    assert gsm8k_answer("#### -5") == "-5"
    assert gsm8k_answer("no marker") is None


def test_save_and_reload_roundtrip(tmp_path):
    problems = [MathProblem(id="a", problem="p", answer="1", level=3, meta={"k": 1})]
    save_problems(tmp_path / "o.jsonl", problems)
    assert load_problems("jsonl", tmp_path / "o.jsonl") == problems


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown dataset 'gsm9k'.*gsm8k"):
        load_problems("gsm9k")


def test_jsonl_without_path():
    with pytest.raises(ValueError, match="--data-path"):
        load_problems("jsonl")


def test_broken_json_line_names_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "g.jsonl", [{"question": "q", "answer": "#### 1"}, '{"question": "q", "answer": ']
    )
    with pytest.raises(DataError, match=rf"{path}:2: invalid JSON"):
        load_problems("gsm8k", path)


def test_gsm8k_missing_field(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "#### 1"}, {"question": "q"}])
    with pytest.raises(DataError, match=rf"{path}:2: field 'answer'"):
        load_problems("gsm8k", path)


def test_gsm8k_answer_without_marker(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "just 5"}])
    with pytest.raises(DataError, match=r":1: field 'answer': no final '#### <number>' line"):
        load_problems("gsm8k", path)


def test_math_without_boxed_answer(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "no box here"}])
    with pytest.raises(DataError, match=r":1: field 'solution': no answer"):
        load_problems("math", path)


def test_math_bad_level(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "solution": "\\boxed{1}", "level": "hard"}])
    with pytest.raises(DataError, match=r":1: field 'level'"):
        load_problems("math", path)


def test_generic_missing_problem_column(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "p"}])
    with pytest.raises(DataError, match=r":1: field 'problem/question"):
        load_problems("jsonl", path)
    with pytest.raises(DataError, match=r":1: field 'q': missing"):
        load_problems("jsonl", path, field_map={"problem": "q"})


def test_duplicate_ids(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "problem": "p"}, {"id": "a", "problem": "q"}])
    with pytest.raises(DataError, match=r":2: field 'id': duplicate id 'a'"):
        load_problems("jsonl", path)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported file type '.csv'"):
        load_problems("jsonl", path)


def test_math_hub_source_reads_every_subject_config(tmp_path, monkeypatch):
    """MATH on the hub is one config per subject; a local folder with two configs stands in for it."""
    from wizardmath.data import loaders

    folder = tmp_path / "hendrycks_math"
    for subject, answer in (("algebra", "1"), ("geometry", "2")):
        (folder / subject).mkdir(parents=True)
        row = {
            "problem": f"{subject}?",
            "solution": f"so \\boxed{{{answer}}}",
            "level": "Level 2",
            "type": subject.title(),
        }
        write_jsonl(folder / subject / "test.jsonl", [row])
    (folder / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: algebra\n  data_files:\n  - split: test\n    path: algebra/test.jsonl\n"
        "- config_name: geometry\n  data_files:\n  - split: test\n    path: geometry/test.jsonl\n---\n"
    )
    monkeypatch.setitem(loaders.HUB_SOURCES, "math", (str(folder), ("algebra", "geometry")))
    problems = load_problems("math")
    assert [(p.id, p.answer, p.subject, p.level) for p in problems] == [
        ("math/test/0", "1", "Algebra", 2),
        ("math/test/1", "2", "Geometry", 2),
    ]
