"""Launching the test driver as two processes (``configs/accelerate/cpu_two_process.yaml``) or as one,
and the small data sets the launched stages read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("dist_driver.py")
TWO_PROCESSES = REPO / "configs/accelerate/cpu_two_process.yaml"


def accelerate_cli() -> str:
    path = Path(sys.executable).parent / "accelerate"
    if not path.exists():
        pytest.skip("the accelerate CLI is not installed beside this Python")
    return str(path)


def environment(**extra: str | os.PathLike) -> dict[str, str]:
    """Offline, one thread per process (as a launch sets it), the repository importable."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def plan(*commands: list[str]) -> list[str]:
    """Commands for one driver run, in order (``--then`` between them)."""
    out: list[str] = []
    for command in commands:
        out += [*(["--then"] if out else []), *[str(part) for part in command]]
    return out


def launch(
    argv: list[str], timeout: float = 280, config: Path = TWO_PROCESSES, **env
) -> subprocess.CompletedProcess:
    """The driver under ``accelerate launch --config_file config`` (two processes by default)."""
    args = [accelerate_cli(), "launch", "--config_file", str(config), str(DRIVER), *argv]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=environment(**env)
    )


def run_alone(argv: list[str], timeout: float = 280, **env) -> subprocess.CompletedProcess:
    """The driver as one plain process, the same commands."""
    args = [sys.executable, str(DRIVER), *argv]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=environment(**env)
    )


def run_here(commands: list[list], monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands one after another in this process: one process, no launch, no start-up cost (the
    driver's reward terms registered for the test only)."""
    from dist_driver import REWARD_TERMS

    from wizardmath import cli, rewards

    for name, func in REWARD_TERMS.items():
        monkeypatch.setitem(rewards.REWARDS, name, rewards.RewardSpec(lambda _args, f=func: f, False, "test"))
    for command in commands:
        assert cli.main([str(part) for part in command]) == 0, command


def tail(result: subprocess.CompletedProcess) -> str:
    return (result.stdout[-2000:] + "\n" + result.stderr[-4000:]).strip()


def written_by(audit: Path, rank: int, under: Path) -> set[Path]:
    """Files rank ``rank`` wrote, renamed to or removed under ``under`` (the driver's write audit)."""
    log = audit / f"writes.rank{rank}"
    if not log.exists():
        return set()
    root = str(under.resolve())
    return {Path(line) for line in log.read_text().splitlines() if line.startswith(root + os.sep)}


def symbolic_world(folder: Path, seeds: int = 12) -> dict[str, Path]:
    """The tiny world's first stages, in this process (symbolic backend, no model, seconds): evolved
    problems (IRM data, RL prompts), verified solutions (SFT rows) and rule step labels of right and
    wrong solutions (PRM data)."""
    from wizardmath import cli

    def stage(*argv: str | Path) -> None:
        assert cli.main([str(a) for a in argv] + ["--no_progress"]) == 0, argv

    evol, solved = folder / "evol", folder / "solve"
    stage("evolve", "--config", REPO / "configs/tiny/evolve.yaml", "--output", evol, "--num_seeds", seeds)
    stage("solve", "--config", REPO / "configs/tiny/solve.yaml", "--data_path", evol / "problems.jsonl",
          "--output", solved)  # fmt: skip
    right = (solved / "sft.jsonl").read_text().splitlines()[:48]
    wrong = [r for r in (solved / "sft_rejected.jsonl").read_text().splitlines() if '"completion": "' in r]
    solutions = folder / "solutions.jsonl"
    solutions.write_text("\n".join(right + wrong) + "\n")
    labels = folder / "prm_labels.jsonl"
    stage("label-prm", "--labeler", "rule", "--solutions_path", solutions, "--output", labels)
    return {
        "problems": evol / "problems.jsonl",
        "evolution": evol,
        "sft": solved / "sft.jsonl",
        "solutions": solutions,
        "prm": labels,
    }
