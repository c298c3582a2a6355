"""The shared mechanics in ``wizardmath.runstate``, one behaviour each."""

from __future__ import annotations

import json

import pytest

from wizardmath.runstate import (
    EXIT_INCOMPLETE,
    OutputLock,
    check_manifest,
    exit_code,
    fingerprint,
    merge_counts,
    repair_jsonl,
)


def test_merge_counts_adds_numbers_and_keeps_the_rest():
    old = {"requests": 10, "retries": {"timeout": 2}, "model": "a", "cost_usd": 0.5}
    new = {"requests": 3, "retries": {"timeout": 1, "http_500": 4}, "model": "b"}
    assert merge_counts(old, new) == {"requests": 13, "retries": {"timeout": 3, "http_500": 4}, "model": "b", "cost_usd": 0.5}


def test_exit_codes():
    assert exit_code({"retry_pending": 2}) == EXIT_INCOMPLETE
    assert exit_code({"retry_pending": 0}) == 0 and exit_code(None) == 0 and exit_code(1) == 1


def test_repair_leaves_a_whole_file_alone(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}\n')
    assert repair_jsonl(path) == 0 and path.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
    assert not (tmp_path / "r.jsonl.torn").exists()


def test_repair_moves_torn_and_undecodable_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2, "x\n\xff\xfe\n[1, 2]\n{"id": 3}\n{"id": 4')
    assert repair_jsonl(path) == 4
    assert path.read_bytes() == b'{"id": 1}\n{"id": 3}\n'
    assert (tmp_path / "r.jsonl.torn").read_bytes() == b'{"id": 2, "x\n\xff\xfe\n[1, 2]\n{"id": 4\n'


def test_manifest_allows_grown_input_and_refuses_changed_input(tmp_path):
    data, manifest, output = tmp_path / "in.jsonl", tmp_path / "out" / "run.json", tmp_path / "out" / "o.jsonl"
    data.write_text('{"id": 1}\n')
    check_manifest(manifest, {"k": 0}, [output])
    check_manifest(manifest, {"k": 1, "input_files": fingerprint([data])}, [output])  # no output yet: nothing to mix
    output.write_text("written\n")
    with data.open("a") as handle:
        handle.write('{"id": 2}\n')
    check_manifest(manifest, {"k": 1, "input_files": fingerprint([data])}, [output])  # grown: fine
    data.write_text('{"id": 9}\n{"id": 2}\n')
    with pytest.raises(ValueError, match="other data or settings .*input_files"):
        check_manifest(manifest, {"k": 1, "input_files": fingerprint([data])}, [output])
    with pytest.raises(ValueError, match="k: 1 -> 2"):
        check_manifest(manifest, {"k": 2, "input_files": json.loads(manifest.read_text())["input_files"]}, [output])
    check_manifest(manifest, {"k": 2}, [output], resume=True)  # carried on, the first settings stay recorded
    assert json.loads(manifest.read_text())["k"] == 1
    check_manifest(manifest, {"k": 2}, [output], overwrite=True)
    assert not output.exists() and json.loads(manifest.read_text()) == {"k": 2}


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with OutputLock(tmp_path, "a") as outer:
        with OutputLock(tmp_path, "b"):  # the pipeline runs stages inside stages
            pass
        assert outer.path.exists()
        holder = json.loads(outer.path.read_text())
        assert holder["pid"] > 0 and holder["host"] and holder["command"] == "a"
    assert not outer.path.exists()


def test_unreadable_lock_is_stale_only_when_old(tmp_path):
    import os
    import time

    from wizardmath.runstate import OutputLocked

    lock = tmp_path / ".wizardmath.lock"
    lock.write_text("")
    with pytest.raises(OutputLocked):  # a writer may be filling it in right now
        OutputLock(tmp_path).acquire()
    old = time.time() - 60
    os.utime(lock, (old, old))
    with OutputLock(tmp_path):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
