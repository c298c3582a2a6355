"""benchmarks/verify_bench.py, section (f): the peer grader's own test tables, read and scored.

The loader is tested on a small folder written here in the peer's layout (rows of our own); the real
tables are scored only when a copy of the peer's ``tests/`` folder is found (``MATH_VERIFY_TESTS``).
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "verify_peer.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("verify_peer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


PEER_STYLE_TABLE = """
import pytest

def compare_strings(gold, pred, match_types=["latex", "expr"], precision=6, strict=True):
    raise AssertionError("never imported or run")

@pytest.mark.parametrize(
    "gold,pred,expected",
    [
        ("$3$", "The total is $\\\\boxed{3}$.", 1),
        ("$3$", "The total is $\\\\boxed{4}$.", 0),
        ("$\\\\frac{1}{3}$", "$0.33$", 1),
    ],
)
def test_rounded(gold, pred, expected):
    assert compare_strings(gold, pred, precision=2) == expected

@pytest.mark.parametrize("gold, pred, strict, expected", [("$x$", "$y$", False, 1)])
def test_loose(gold, pred, strict, expected):
    assert compare_strings(gold, pred, strict=strict) == expected

@pytest.mark.parametrize("gold, pred, expected", [(f"{1/3:.5f}", "$1/3$", 1)])
def test_computed(gold, pred, expected):
    assert compare_strings(gold, pred) == expected

def test_api_only():
    assert True
"""


def test_loader_reads_rows_options_and_exclusions(bench, tmp_path):
    (tmp_path / "test_all.py").write_text(textwrap.dedent(PEER_STYLE_TABLE))
    cases, excluded, plain = bench.load_peer_cases(tmp_path)
    assert [(c.test, c.expected, c.precision, c.strict) for c in cases] == [
        ("test_rounded", True, 2, True),
        ("test_rounded", False, 2, True),
        ("test_rounded", True, 2, True),
        ("test_loose", True, None, False),
    ]
    assert excluded == {"(c) row computed in Python, not a literal table row": 1}
    assert list(plain) == ["test_all.py:test_api_only"]
    result = bench.peer_agreement(cases)
    # an explicit rounding becomes a relative tolerance (1/3 vs 0.33); loose variable names never do
    assert len(result["agree"]) == 3 and [case.test for case, _ in result["wrong"]] == ["test_loose"]
    assert result["agreement"] == pytest.approx(3 / 4)


def test_missing_folder_is_a_skip_with_a_reason(bench, tmp_path, monkeypatch):
    monkeypatch.setenv(bench.PEER_ENV, str(tmp_path / "nowhere"))
    folder, why = bench.peer_folder(None)
    if folder is None:  # an installed source checkout of the peer could still be found
        assert bench.PEER_ENV in why and "skipped" in why


@pytest.mark.timeout(240)
def test_peer_tables_agree(bench):
    folder, why = bench.peer_folder(None)
    if folder is None:
        pytest.skip(why)
    cases, _excluded, _plain = bench.load_peer_cases(folder)
    result = bench.peer_agreement(cases)
    wrong = [(case.key, case.expected) for case, _ in result["wrong"]]
    assert result["agreement"] >= 0.97, wrong
    listed = {case.key for case in result["deliberate"]}
    assert listed == set(bench.PEER_DELIBERATE), "a listed deliberate difference no longer differs"
