"""Configs, CLI and scripts of the evolution stage: they load, validate and say what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wizardmath.cli import main
from wizardmath.config import ConfigError, load_config
from wizardmath.evol import EvolveConfig, SolveConfig
from wizardmath.evol.config import parse_backend_args
from wizardmath.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "cls, path",
    [
        (EvolveConfig, "configs/tiny/evolve.yaml"),
        (EvolveConfig, "configs/evolve/openai.yaml"),
        (SolveConfig, "configs/tiny/solve.yaml"),
        (SolveConfig, "configs/evolve/solve_openai.yaml"),
    ],
)
def test_shipped_configs_load(cls, path):
    config = load_config(cls, REPO / path)
    parse_backend_args(config.backend_args)


def test_defaults_are_the_papers_schedule():
    config = EvolveConfig(num_seeds=1)
    assert config.rounds == ["down", "down", "up", "up", "up"]
    assert config.fanout == [6, 1, 6, 1, 1] and config.temperature == 0.7
    assert config.round_parents == ["seeds", "previous", "seeds", "previous", "previous"]
    openai = load_config(EvolveConfig, REPO / "configs/evolve/openai.yaml")
    assert (openai.rounds, openai.fanout, openai.dataset) == (config.rounds, config.fanout, ["gsm8k", "math"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"rounds": ["up"], "fanout": [1, 2], "round_parents": ["seeds"]}, "one entry per round"),
        ({"rounds": ["up"], "fanout": [1], "round_parents": ["previous"]}, "round_parents\\[0\\]"),
        ({"rounds": ["up"], "fanout": [1], "round_parents": ["parents"]}, "seeds or previous"),
        ({"num_seeds": 0}, "num_seeds"),
        ({"temperature": -1.0}, "temperature must be >= 0, got -1.0"),
        ({"agreement_threshold": 0.0}, "agreement_threshold"),
        ({"solver_template": "x"}, "solver_template"),
        ({"data_path": ["a", "b"]}, "one entry per dataset"),
        ({"rounds": ["up", "deepn", "down", "up", "up"]}, "unknown operation 'deepn'"),
    ],
)
def test_bad_evolve_configs_say_what_to_set(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(EvolveConfig, REPO / "configs/tiny/evolve.yaml", **overrides)


def test_backend_args():
    assert parse_backend_args(["concurrency=8", "error_rate=0.1", "name=x", "flag=true"]) == {
        "concurrency": 8,
        "error_rate": 0.1,
        "name": "x",
        "flag": True,
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_backend_args(["oops"])


def test_cli_runs_evolve_and_solve(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "evolve",
                "--config",
                str(REPO / "configs/tiny/evolve.yaml"),
                "--output",
                str(out),
                "--num_seeds",
                "5",
                "--rounds",
                "up",
                "--round_parents",
                "seeds",
                "--fanout",
                "2",
                "--decontaminate",
                "false",
                "--progress",
                "false",
            ]
        )
        == 0
    )
    assert len(read_jsonl(out / "problems.jsonl")) + len(read_jsonl(out / "rejected.jsonl")) == 5 + 10
    assert (
        main(
            [
                "solve",
                "--config",
                str(REPO / "configs/tiny/solve.yaml"),
                "--data-path",
                str(out / "problems.jsonl"),
                "--output",
                str(out / "solve"),
                "--progress",
                "false",
            ]
        )
        == 0
    )
    assert len(read_jsonl(out / "solve/sft.jsonl")) == len(read_jsonl(out / "problems.jsonl"))
    assert (
        main(
            [
                "evolve",
                "--rounds",
                "sideways",
                "--round_parents",
                "seeds",
                "--fanout",
                "1",
                "--num_seeds",
                "2",
            ]
        )
        == 2
    )
    assert "unknown operation 'sideways'" in capsys.readouterr().err


def test_scripts(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    flags = [
        "--num_seeds",
        "4",
        "--rounds",
        "down",
        "--round_parents",
        "seeds",
        "--fanout",
        "1",
        "--decontaminate",
        "false",
        "--progress",
        "false",
    ]
    for script, args in (("01_evolve.sh", flags), ("02_solve.sh", ["--progress", "false"])):
        text = (REPO / "scripts" / script).read_text()
        assert "set -euo pipefail" in text
        config = "configs/tiny/evolve.yaml" if script.startswith("01") else "configs/tiny/solve.yaml"
        run = subprocess.run(
            ["bash", str(REPO / "scripts" / script), str(tmp_path), config, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
    assert read_jsonl(tmp_path / "solve/sft.jsonl")
