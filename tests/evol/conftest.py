"""Fixtures for the evolution tests: a small symbolic run, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizardmath.evol import EvolveConfig

REPO = Path(__file__).resolve().parents[2]
TINY_EVOLVE = REPO / "configs" / "tiny" / "evolve.yaml"


def small_config(output: Path, **overrides) -> EvolveConfig:
    """The tiny config with fewer seeds and no shared test sets (fast, and independent of ../shared)."""
    from wizardmath.config import load_config

    values = {
        "output": str(output),
        "num_seeds": 24,
        "decontaminate": [],
        "progress": False,
        "chunk_size": 64,
    }
    values.update(overrides)
    return load_config(EvolveConfig, TINY_EVOLVE, **values)


@pytest.fixture(scope="session")
def make_config():
    """``make_config(output, **overrides)``: the small evolve config (see ``small_config``)."""
    return small_config


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One uninterrupted small evolve run: (output folder, stats)."""
    from wizardmath.evol import evolve

    out = tmp_path_factory.mktemp("evol") / "run"
    return out, evolve(small_config(out))
