"""Append-only JSONL: errors name file/line/field, torn last lines are cut, ids drive resume."""

from __future__ import annotations

import json

import pytest

from wizardmath.jsonl import DataError, JsonlWriter, iter_jsonl, read_ids, read_jsonl, write_json, write_jsonl


def test_roundtrip_and_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [{"id": "1"}, {"id": "2"}])
    path.write_text(path.read_text() + "\n\n")
    assert [r["id"] for r in read_jsonl(path)] == ["1", "2"]


def test_broken_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{"id": 2,,}\n')
    with pytest.raises(
        DataError, match=rf"{path}:2: invalid JSON \(Expecting property name .* at column 10\)"
    ):
        read_jsonl(path)
    path.write_text('{"id": 1}\n{"id": 2\n')  # cut short: it fails at the newline, not at "column 1"
    with pytest.raises(DataError, match=rf"{path}:2: invalid JSON \(.* at the end of the line\)"):
        read_jsonl(path)


def test_missing_field_and_non_object(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "x": 2}\n{"x": 3}\n')
    with pytest.raises(DataError, match=rf"{path}:2: field 'id': missing"):
        read_jsonl(path, required=["id"])
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=":1: expected a JSON object"):
        read_jsonl(path)


def test_writer_cuts_torn_tail_and_keeps_finished_rows(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as writer:
        writer.write({"id": "a"})
        writer.write({"id": "b"})
    with path.open("a") as handle:  # a run killed in the middle of a write
        handle.write('{"id": "c", "text": "unfini')
    assert read_ids(path) == {"a", "b"}
    with JsonlWriter(path) as writer:
        writer.write({"id": "c"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]


def test_writer_on_file_that_is_only_a_torn_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "x"')
    with JsonlWriter(path) as writer:
        writer.write({"id": "y"})
    assert read_jsonl(path) == [{"id": "y"}]


def test_read_ids_of_missing_file(tmp_path):
    assert read_ids(tmp_path / "none.jsonl") == set()


def test_iter_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(iter_jsonl(tmp_path / "none.jsonl"))


def test_write_json_is_atomic(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert not (tmp_path / "s.json.tmp").exists()
