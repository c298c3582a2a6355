from __future__ import annotations

import subprocess
import sys

import pytest

from wizardmath.cli import COMMANDS, main

STAGES = ["init-tiny", "data", "verify", "eval", "evolve", "solve", "sft", "pipeline", "train-irm", "train-prm", "ppo"]


def test_help_lists_every_stage(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in STAGES:
        assert f"  {name} " in out
    assert set(STAGES) <= set(COMMANDS)


def test_unknown_command(capsys):
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_help_is_fast_and_light():
    """`wizardmath --help` imports no torch: stage modules load only for the command that runs."""
    code = "import sys; from wizardmath.cli import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


@pytest.mark.parametrize("name", ["init-tiny", "data", "sft"])
def test_stage_help_shows_shared_flags(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--config FILE" in out and "--seed" in out


def test_config_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("vocab_sise: 10\n")
    assert main(["init-tiny", "--config", str(bad)]) == 2
    assert f"{bad}: key 'vocab_sise'" in capsys.readouterr().err
