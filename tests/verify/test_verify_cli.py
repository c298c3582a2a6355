"""``wizardmath verify``: one pair from flags, or a JSONL file of pairs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest

from wizardmath.jsonl import DataError
from wizardmath.verify.cli import VerifyConfig, verify_command


def test_every_field_has_default_and_help():
    for f in fields(VerifyConfig):
        assert "help" in f.metadata, f.name


def test_single_pair(capsys):
    assert verify_command(VerifyConfig(gold="3", pred="so x = 3. The answer is: 3")) == 0
    out = capsys.readouterr().out
    assert "equal: True" in out and "extracted: 3" in out and "reason:" in out
    assert verify_command(VerifyConfig(gold="3", pred="The answer is: 4")) == 1


def test_file_round_trip(tmp_path):
    src, dst = tmp_path / "pairs.jsonl", tmp_path / "verdicts.jsonl"
    rows = [
        {"id": "a", "gold": "3", "pred": "The answer is: 3"},
        {"gold": "\\frac12", "pred": "0.5"},
        {"id": 7, "gold": 18, "pred": "#### 19"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert verify_command(VerifyConfig(input=str(src), output=str(dst))) == 0
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [(r["id"], r["equal"], r["extracted"]) for r in out] == [
        ("a", True, "3"),
        (2, True, "0.5"),
        (7, False, "19"),
    ]
    assert all("reason" in r for r in out)


def test_bad_line_names_file_line_field(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"gold": "3", "pred": "3"}\n{"gold": "3"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'pred'"):
        verify_command(VerifyConfig(input=str(src)))
    src.write_text('{"gold": "3", "pred": ["x"]}\n')
    with pytest.raises(DataError, match="field 'pred'"):
        verify_command(VerifyConfig(input=str(src)))


def test_flags_are_validated():
    with pytest.raises(ValueError):
        VerifyConfig(gold="3")
    with pytest.raises(ValueError):
        VerifyConfig()
    with pytest.raises(ValueError, match="--workers must be >= 1, got 0"):
        VerifyConfig(input="pairs.jsonl", workers=0)  # 0 used to mean 1, silently


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 0.0])
def test_timeout_must_be_finite_and_positive(timeout):
    with pytest.raises(ValueError, match="--timeout must be a finite number of seconds > 0"):
        VerifyConfig(gold="3", pred="3", timeout=timeout)  # nan passed every comparison before


@pytest.mark.timeout(120)
@pytest.mark.parametrize("value", ["nan", "inf", "-2"])
def test_bad_timeout_flag_is_one_line_exit_2(value):
    result = subprocess.run(
        [sys.executable, "-m", "wizardmath", "verify", "--gold", "3", "--pred", "3", "--timeout", value],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--timeout" in result.stderr


@pytest.mark.timeout(120)
def test_console_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "wizardmath", "verify", "--gold", "3", "--pred", "so x = 3. The answer is: 3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "equal: True" in result.stdout
