"""benchmarks/rl_vs_trl.py and trl_peer.py: phase arithmetic and medians (pure helpers, no training)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("rl_vs_trl", BENCH / "rl_vs_trl.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_step_phases_update_is_the_rest(bench):
    peer = sys.modules["trl_peer"]
    phases = peer.step_phases([{"generation": 1.0, "scoring": 0.25, "step": 2.0}, {"step": 0.5}])
    assert phases[0] == {"generation": 1.0, "scoring": 0.25, "update": 0.75, "step": 2.0}
    assert phases[1] == {"generation": 0.0, "scoring": 0.0, "update": 0.5, "step": 0.5}


def test_medians_leave_out_the_first_step(bench):
    steps = [{"generation": 9.0, "scoring": 9.0, "update": 9.0, "step": 27.0}] + [
        {"generation": g, "scoring": 0.1, "update": 0.5, "step": g + 0.6} for g in (1.0, 2.0, 3.0)
    ]
    assert bench.medians(steps) == {"generation": 2.0, "scoring": 0.1, "update": 0.5, "step": 2.6}
    assert bench.medians(steps[:1])["step"] == 27.0  # one step: it is all there is


def test_settings_count_responses(bench):
    peer = sys.modules["trl_peer"]
    assert peer.RLSettings(prompts=8, group=8).responses == 64
