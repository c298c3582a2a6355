"""Fixtures for the reward-model tests: small hand-built data sets and tiny trained IRM / PRM models."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

# This folder is named like the package it tests. pytest puts tests/ on sys.path, where this folder
# would pass for a namespace package ``reward_models`` ahead of the editable install's finder; the
# repository root goes first so that ``import reward_models`` is always the real package.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if getattr(sys.modules.get("reward_models"), "__file__", "") is None:
    del sys.modules["reward_models"]  # a namespace stand-in imported before this file
import reward_models  # noqa: E402, F401

DATA = Path(__file__).parent / "data"


def addition_record(i: int, rng: random.Random) -> dict:
    """A one-step solution that is right or off by one, with the matching stepwise labels."""
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    ok = rng.random() < 0.5
    c = a + b if ok else a + b + 1
    return {
        "id": f"add/{i}",
        "prompt": f"Tom has {a} apples. He buys {b} more apples. How many apples does Tom have now?",
        "completions": [f"Step 1: Tom buys {b} more, so {a} + {b} = {c}.", f"The answer is: {c}"],
        "labels": [ok, ok],
    }


@pytest.fixture(scope="session")
def stepwise_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("stepwise") / "prm.jsonl"
    path.write_text("".join(json.dumps(addition_record(i, rng)) + "\n" for i in range(48)))
    return path


def tiny_train_args(output: Path, **extra) -> dict:
    """Trainer flags that keep a tiny run to a few seconds on CPU."""
    return {
        "output_dir": str(output),
        "per_device_train_batch_size": 8,
        "learning_rate": 3e-3,
        "logging_steps": 1,
        "report_to": "none",
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        **extra,
    }


@pytest.fixture(scope="session")
def train_args():
    return tiny_train_args


@pytest.fixture(scope="session")
def trained_prm(tiny_model_dir: Path, stepwise_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reward_models.prm import PRMConfig, train_prm

    out = tmp_path_factory.mktemp("prm") / "model"
    train_prm(
        PRMConfig(
            model=str(tiny_model_dir),
            data_path=str(stepwise_file),
            eval_fraction=0.25,
            max_steps=4,
            **tiny_train_args(out),
        )
    )
    return out


def evolution_dir(root: Path, groups: int = 24) -> Path:
    """A hand-made evolve output: per seed, an upward variant, an ill-posed one and a refusal."""
    rng = random.Random(1)
    root.mkdir(parents=True, exist_ok=True)
    accepted, rejected = [], []
    for g in range(groups):
        a, b = rng.randint(2, 9), rng.randint(2, 5)
        seed = f"Tom has {a} apples. He buys {b} more apples. How many apples does Tom have now?"
        accepted.append(
            {
                "id": f"s/{g}",
                "problem": seed,
                "round": 0,
                "operation": "seed",
                "meta": {"difficulty": 1, "well_posed": True, "consistent": True},
            }
        )
        accepted.append(
            {
                "id": f"s/{g}/up",
                "parent_id": f"s/{g}",
                "round": 1,
                "operation": "add_step",
                "problem": seed.replace("How many", "He now has 2 times as many apples. How many"),
                "meta": {"difficulty": 2, "well_posed": True, "consistent": True},
            }
        )
        rejected.append(
            {
                "id": f"s/{g}/ill",
                "parent_id": f"s/{g}",
                "round": 1,
                "operation": "new_easier",
                "problem": f"He buys {b} more apples. How many apples does Tom have now?",
                "meta": {"difficulty": 1, "well_posed": False, "consistent": True},
                "reason": "unsolvable",
            }
        )
        rejected.append(
            {
                "id": f"s/{g}/no",
                "parent_id": f"s/{g}",
                "round": 1,
                "operation": "new_easier",
                "problem": "Sorry, I can't help with that.",
                "meta": {"failure": "refusal"},
                "reason": "refusal",
            }
        )
    (root / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in accepted))
    (root / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejected))
    return root


@pytest.fixture(scope="session")
def evolve_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return evolution_dir(tmp_path_factory.mktemp("evol") / "run")


@pytest.fixture(scope="session")
def trained_irm(tiny_model_dir: Path, evolve_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reward_models.irm import IRMConfig, train_irm

    out = tmp_path_factory.mktemp("irm") / "model"
    train_irm(
        IRMConfig(
            model=str(tiny_model_dir),
            data_path=str(evolve_dir),
            max_steps=6,
            bf16=False,
            gradient_checkpointing=False,
            **tiny_train_args(out),
        )
    )
    return out
