"""Every shipped recipe: each stage config validates against its stage's dataclass, every flag the stage
scripts pass exists (a dry run of scripts/run_rleif.sh per recipe), and the recipe rules hold."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wizardmath.cli import COMMANDS
from wizardmath.config import check_mapping, load_config, read_yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
RECIPES = [
    "llama2-7b",
    "llama2-13b",
    "llama2-70b",
    "mistral-7b",
    "qwen2.5-math-1.5b",
    "qwen2.5-7b",
    "llama3.1-8b",
    "smol",
]
CHAT_RECIPES = ["qwen2.5-math-1.5b", "qwen2.5-7b", "llama3.1-8b", "smol"]
STAGES = {
    "sft": "sft",
    "irm": "train-irm",
    "prm": "train-prm",
    "checker": "train-checker",
    "label_prm": "label-prm",
    "ppo": "ppo",
    "grpo": "grpo",
    "eval": "eval",
    "solve": "solve",
    "solve_openai": "solve",
    "evolve": "evolve",
    "openai": "evolve",
    "pipeline": "pipeline",
    "tiny_model": "init-tiny",
}


def stage_of(stem: str) -> str | None:
    """A config's stage: its name, or the longest stage name it starts with (solve_clean -> solve)."""
    if stem in STAGES:
        return STAGES[stem]
    prefixes = [name for name in STAGES if stem.startswith(name + "_")]
    return STAGES[max(prefixes, key=len)] if prefixes else None


STAGE_YAMLS = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name not in ("accelerate",))


def config_class(command: str) -> type:
    cmd = COMMANDS[command]
    return getattr(importlib.import_module(cmd.module), cmd.config)


def test_every_stage_yaml_is_known():
    assert len(STAGE_YAMLS) >= 60
    unknown = [str(p.relative_to(REPO)) for p in STAGE_YAMLS if stage_of(p.stem) is None]
    assert not unknown, f"configs with no stage mapping (add them to STAGES): {unknown}"


@pytest.mark.parametrize("path", STAGE_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_validates_against_its_dataclass(path):
    from transformers import TrainingArguments

    cls = config_class(stage_of(path.stem))
    values = check_mapping(cls, read_yaml(path), str(path))  # unknown keys and wrong types name the key
    overrides = {}
    if issubclass(cls, TrainingArguments):
        overrides["use_cpu"] = True  # bf16 needs a GPU; everything else validates here
    if stage_of(path.stem) in ("ppo", "grpo", "sft", "train-checker") and "output_dir" not in values:
        overrides["output_dir"] = "runs/x"  # the scripts pass --output
    if stage_of(path.stem) in ("ppo", "grpo", "sft") and "data_path" not in values:
        overrides["data_path"] = "problems.jsonl"
    assert isinstance(load_config(cls, path, **overrides), cls)


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_has_every_stage_run_rleif_calls(recipe):
    folder = CONFIGS / recipe
    needed = {"sft", "irm", "label_prm", "prm", "ppo", "grpo", "eval"} | (
        {"solve"} if recipe in CHAT_RECIPES else set()
    )
    assert needed <= {p.stem for p in folder.glob("*.yaml")}
    for stage in needed:
        text = (folder / f"{stage}.yaml").read_text()
        header = text.split("\n\n")[0]
        # launch line (its own config), hardware, expected figures and where the settings come from
        assert f"configs/{recipe}/{stage}.yaml" in text, f"{recipe}/{stage}: no launch line with its own path"
        assert re.search(r"GPU|Hardware", header), f"{recipe}/{stage}: no hardware"
        assert re.search(r"Expect", header), f"{recipe}/{stage}: no expected figures"
        if stage in ("sft", "irm", "prm", "ppo", "grpo", "label_prm"):
            assert re.search(r"paper|recipe|Math-Shepherd|DeepSeekMath|assumption", header, re.I), (
                f"{recipe}/{stage}"
            )


@pytest.mark.parametrize("recipe", RECIPES)
def test_launch_lines_name_their_own_config(recipe):
    for path in (CONFIGS / recipe).glob("*.yaml"):
        first = re.search(r"--config (configs/\S+\.yaml)", path.read_text())
        assert first is None or first.group(1) == f"configs/{recipe}/{path.name}", (
            f"{path} launches {first.group(1)}"
        )


@pytest.mark.parametrize("recipe", RECIPES)
def test_rl_never_evaluates_on_a_test_set(recipe):
    for stage in ("ppo", "grpo"):
        held_out = read_yaml(CONFIGS / recipe / f"{stage}.yaml").get("eval_data_path") or ""
        assert "test" not in held_out and held_out.endswith("rl/val.jsonl"), f"{recipe}/{stage}: {held_out}"


@pytest.mark.parametrize("recipe", CHAT_RECIPES)
def test_chat_recipes_use_the_chat_template_end_to_end(recipe):
    for stage in ("solve", "prm", "label_prm", "ppo", "grpo", "eval"):
        # auto: chat, since the model has a chat template (the CPU recipe shows the default at work)
        assert read_yaml(CONFIGS / recipe / f"{stage}.yaml")["template"] in ("chat", "auto"), (
            f"{recipe}/{stage}"
        )


def test_at_scale_prm_labels_come_from_rollouts_not_the_tiny_rule_labeller():
    for recipe in RECIPES:
        if recipe == "smol":  # CPU: MC rollouts would cost 8x its generation; the exact checker labels
            continue
        assert read_yaml(CONFIGS / recipe / "label_prm.yaml")["labeler"] == "mc", recipe
    assert "configs/tiny/label_prm.yaml" not in (REPO / "scripts/03_reward_models.sh").read_text()


def test_accelerate_configs():
    import yaml

    for path in (CONFIGS / "accelerate").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        ds = config.get("deepspeed_config") or {}
        if "deepspeed_config_file" in ds:
            assert (REPO / ds["deepspeed_config_file"]).is_file(), path
        if config.get("num_machines", 1) > 1:  # every node runs its own launcher, no pdsh/hostfile
            assert ds.get("deepspeed_multinode_launcher") == "standard", path


def test_70b_ppo_is_zero3_and_its_plan_counts_the_reward_models():
    from wizardmath.train.ppo_plan import PPOPlanConfig, memory_plan

    config = load_config(PPOPlanConfig, CONFIGS / "llama2-70b/ppo.yaml", dry_run=True)
    assert config.zero_stage == 3
    plan = memory_plan(config)
    assert "IRM weights (6.7B" in plan and "PRM weights (6.7B" in plan
    total = float(re.search(r"total per GPU \(before activations\)\s+([\d.]+) GiB", plan).group(1))
    assert total < 80 * 0.93  # fits an 80 GB GPU before activations


def test_one_gpu_recipe_fits_one_80gb_gpu():
    from wizardmath.train.ppo_plan import PPOPlanConfig, memory_plan

    config = load_config(PPOPlanConfig, CONFIGS / "qwen2.5-math-1.5b/ppo.yaml", dry_run=True)
    plan = memory_plan(config)
    assert "1.54B parameters" in plan and "1 GPU(s)" in plan
    assert float(re.search(r"total per GPU \(before activations\)\s+([\d.]+) GiB", plan).group(1)) < 60


def run_dry(recipe: str, log: Path, **env: str) -> None:
    environment = {**os.environ, "DRY_RUN": "1", "DRY_RUN_LOG": str(log), "NUM_GPUS": "8", **env}
    if recipe in ("tiny", "qwen2.5-math-1.5b"):
        environment.pop("NUM_GPUS")
    if recipe in ("llama2-13b", "llama2-70b"):
        environment.setdefault("RM_MODEL", "runs/7b/sft")
    subprocess.run(
        ["bash", str(REPO / "scripts/run_rleif.sh"), f"runs/{recipe}", recipe],
        check=True,
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_rleif_dry_runs_for_every_recipe(tmp_path, capsys):
    """Recording every recipe's commands is bash only; one in-process check then parses all of them."""
    sys.path.insert(0, str(REPO / "scripts"))
    import dry_run

    log = tmp_path / "commands.txt"
    for recipe in ["tiny", *RECIPES]:
        run_dry(recipe, log)
    run_dry("qwen2.5-7b", log, ALGO="grpo")
    commands = log.read_text().splitlines()
    assert len(commands) == 9 * (len(RECIPES) + 2)
    assert dry_run.main([str(log)]) == 0
    out = capsys.readouterr().out
    for recipe in RECIPES:
        for stage in ("sft", "irm", "label_prm", "prm", "ppo", "eval"):
            assert f"--config configs/{recipe}/{stage}.yaml" in out, (recipe, stage)
    # the CPU recipe's ppo.yaml takes the verifier reward alone (its ppo_paper.yaml, the paper's reward)
    paper_reward = [r for r in RECIPES if r != "smol"]
    assert out.count("PPO memory plan") == len(RECIPES) + 1 and out.count("IRM weights") == len(paper_reward)
    assert "--config configs/qwen2.5-7b/grpo.yaml" in out
    assert (
        "--config configs/qwen2.5-7b/solve.yaml" in out and "--config configs/evolve/solve_openai.yaml" in out
    )


def test_large_recipes_need_their_7b_reward_model_named(tmp_path):
    env = {**os.environ, "DRY_RUN": "1", "DRY_RUN_LOG": str(tmp_path / "log.txt"), "NUM_GPUS": "8"}
    env.pop("RM_MODEL", None)
    done = subprocess.run(
        ["bash", str(REPO / "scripts/03_reward_models.sh"), "runs/70b", "llama2-70b"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "set RM_MODEL" in done.stderr
    assert not (tmp_path / "log.txt").exists() or "train-irm" not in (tmp_path / "log.txt").read_text()


def test_dry_run_reports_a_bad_flag(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import dry_run

    log = tmp_path / "commands.txt"
    log.write_text("eval --config configs/llama2-7b/eval.yaml --no_such_flag 1\n")
    assert dry_run.main([str(log)]) == 1
    assert "FAIL eval" in capsys.readouterr().out


def test_scripts_pick_the_accelerate_config_by_gpus_and_zero_stage(tmp_path):
    log = tmp_path / "commands.txt"

    def record(script: str, *args: str, gpus: str) -> str:
        log.write_text("")
        env = {**os.environ, "DRY_RUN": "1", "DRY_RUN_LOG": str(log), "NUM_GPUS": gpus}
        subprocess.run(
            ["bash", str(REPO / "scripts" / script), *args], check=True, env=env, cwd=REPO, timeout=60
        )
        return log.read_text().split()[0]

    assert (
        record("04_ppo.sh", "runs/70b", "configs/llama2-70b/ppo.yaml", gpus="32")
        == "@configs/accelerate/multi_node_offload.yaml"
    )
    assert (
        record("04_ppo.sh", "runs/7b", "configs/llama2-7b/ppo.yaml", gpus="8")
        == "@configs/accelerate/deepspeed_zero3.yaml"
    )
    assert (
        record("03_sft.sh", "runs/70b", "configs/llama2-70b/sft.yaml", gpus="32")
        == "@configs/accelerate/multi_node.yaml"
    )
    assert (
        record("03_sft.sh", "runs/7b", "configs/llama2-7b/sft.yaml", gpus="8")
        == "@configs/accelerate/deepspeed_zero2.yaml"
    )
