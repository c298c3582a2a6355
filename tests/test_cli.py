from __future__ import annotations

import re
import subprocess
import sys

import pytest

from wizardmath.cli import COMMANDS, main

STAGES = [
    "init-tiny",
    "data",
    "verify",
    "eval",
    "evolve",
    "solve",
    "sft",
    "pipeline",
    "train-irm",
    "train-prm",
    "ppo",
]


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


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: wizardmath {name}" in out and "--config FILE" in out


@pytest.mark.parametrize("name", ["init-tiny", "data", "sft", "eval", "evolve", "train-prm"])
def test_stage_help_shows_shared_flags(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    assert "--seed" in capsys.readouterr().out


# One cheap bad input per command: (flags, exit status, what the one-line error must say).
BAD_INPUT = {
    "init-tiny": (["--hidden_size", "-4"], 2, "hidden_size must be >= 1, got -4"),
    "convert-gguf": (["--model", "{tmp}/model.bin", "--output", "{tmp}/out"], 2, "expected a .gguf file"),
    "data": (
        ["show", "--dataset", "jsonl", "--data_path", "{tmp}/missing.jsonl"],
        1,
        "missing.jsonl: no such file",
    ),
    "verify": ([], 2, "give either --input FILE or --gold G --pred P"),
    "eval": (["--model", "m", "--num_samples", "0"], 2, "num_samples must be >= 1, got 0"),
    "evolve": (["--num_seeds", "0"], 2, "set num_seeds"),
    "solve": (
        ["--num_samples", "1", "--keep_per_problem", "2"],
        2,
        "keep_per_problem \\(2\\) cannot exceed num_samples \\(1\\)",
    ),
    "sft": (["--output", "{tmp}/out"], 2, "sft needs --model"),
    "train-irm": (["--output_dir", "{tmp}/out"], 2, "train-irm needs --model"),
    "label-prm": (["--labeler", "oracle"], 2, "invalid choice: 'oracle'"),
    "train-prm": (["--model", "m", "--output_dir", "{tmp}/out", "--limit", "0"], 2, "limit must be >= 1"),
    "train-checker": (
        ["--model", "m", "--output_dir", "{tmp}/out", "--max_value", "0"],
        2,
        "max_value must be >= 1",
    ),
    "score": (["--model", "m"], 2, "give either --problem"),
    "ppo": ([], 2, "needs --model"),
    "grpo": ([], 2, "needs --model"),
    "pipeline": (["--nonsense", "1"], 2, "nonsense"),
}


def test_bad_input_table_covers_every_command():
    assert set(BAD_INPUT) == set(COMMANDS)


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_one_clear_line(name, tmp_path, capsys):
    flags, status, message = BAD_INPUT[name]
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    try:
        code = main([name, *flags])
    except SystemExit as exit_info:  # argparse's own errors (a bad choice)
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == status, err
    assert re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("name", list(COMMANDS))
def test_unknown_yaml_key_names_file_and_key(name, tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("no_such_key: 10\n")
    assert main([name, "--config", str(bad)]) == 2
    assert f"{bad}: key 'no_such_key': unknown" in capsys.readouterr().err


def test_config_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("vocab_sise: 10\n")
    assert main(["init-tiny", "--config", str(bad)]) == 2
    assert f"{bad}: key 'vocab_sise'" in capsys.readouterr().err


def test_ctrl_c_is_one_line_saying_how_to_resume(monkeypatch, capsys):
    import wizardmath.tiny

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(wizardmath.tiny, COMMANDS["init-tiny"].entry, interrupted)
    assert main(["init-tiny", "--output", "unused"]) == 130
    err = capsys.readouterr().err
    assert "wizardmath init-tiny: interrupted; what was written is kept: run the same command again" in err
    assert "Traceback" not in err


def test_deepspeed_is_told_cpu_only_where_no_gpu_device_exists(monkeypatch):
    import glob
    import os

    import wizardmath.cli as cli

    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    monkeypatch.setattr(glob, "glob", lambda pattern: ["/dev/nvidia0"] if pattern == "/dev/nvidia*" else [])
    cli._cpu_only_deepspeed()
    assert "DS_ACCELERATOR" not in os.environ  # a GPU node: DeepSpeed detects it itself
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    cli._cpu_only_deepspeed()
    assert os.environ["DS_ACCELERATOR"] == "cpu"
    monkeypatch.setenv("DS_ACCELERATOR", "xpu")
    cli._cpu_only_deepspeed()
    assert os.environ["DS_ACCELERATOR"] == "xpu"  # the user's choice wins
