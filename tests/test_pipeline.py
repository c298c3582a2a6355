"""The pipeline chains the public stage entry points and writes summary.json; a re-run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from wizardmath.config import load_config
from wizardmath.pipeline import DEFAULT_STAGES, PPO_REWARDS, STAGES, PipelineConfig, run_pipeline

REPO = Path(__file__).resolve().parents[1]


def shrunk(tmp_path: Path, name: str, **changes) -> str:
    """A copy of configs/tiny/<name>.yaml with smaller sizes, so the test runs in seconds."""
    data = yaml.safe_load((REPO / "configs/tiny" / f"{name}.yaml").read_text())
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def small_run(tmp_path: Path, model: Path) -> dict:
    """PipelineConfig fields for a run of seconds: the tiny model and shrunk evolve/solve/sft configs."""
    return {
        "output": str(tmp_path / "run"),
        "model": str(model),
        "evolve_config": shrunk(
            tmp_path,
            "evolve",
            num_seeds=12,
            rounds=["down", "up"],
            round_parents=["seeds", "seeds"],
            fanout=[1, 2],
        ),
        "solve_config": shrunk(tmp_path, "solve"),
        "sft_config": shrunk(tmp_path, "sft", max_steps=3, save_strategy="no"),
    }


@pytest.mark.slow
def test_pipeline_runs_stages_and_resumes(tmp_path, tiny_model_dir):
    config = PipelineConfig(
        **small_run(tmp_path, tiny_model_dir),
        stages=["base", "sft_seed", "sft_evolved"],
        test_size=8,
        eval_max_new_tokens=16,
        eval_batch_size=8,
    )
    result = run_pipeline(config)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stages"] == result["stages"]
    stages = summary["stages"]
    assert list(stages) == ["base", "sft_seed", "sft_evolved"]
    for name, stage in stages.items():  # the share of the 8 held-out problems its eval graded correct
        graded = [
            json.loads(line)
            for line in (tmp_path / "run/eval" / name / "heldout.jsonl").read_text().splitlines()
        ]
        assert stage["n"] == len(graded) == 8 and stage["accuracy"] == pytest.approx(
            sum(r["correct"][0] for r in graded) / 8
        )
        assert stage["seconds"] > 0
    assert stages["base"]["train_examples"] == 0
    assert 0 < stages["sft_seed"]["train_examples"] < stages["sft_evolved"]["train_examples"]

    # The held-out set shares no text with the training problems.
    test_texts = {
        json.loads(line)["problem"] for line in (tmp_path / "run/test.jsonl").read_text().splitlines()
    }
    train_texts = {
        json.loads(line)["problem"]
        for line in (tmp_path / "run/evol/problems.jsonl").read_text().splitlines()
    }
    assert len(test_texts) == 8 and not test_texts & train_texts
    val_texts = {
        json.loads(line)["problem"] for line in (tmp_path / "run/val.jsonl").read_text().splitlines()
    }
    assert len(val_texts) == config.val_size and not val_texts & (test_texts | train_texts)
    assert (tmp_path / "run/report.png").read_bytes()[:4] == b"\x89PNG"

    # A second run finds every stage's result in place and trains nothing again.
    before = (tmp_path / "run/sft_evolved/model.safetensors").stat().st_mtime_ns
    again = run_pipeline(config)
    assert (tmp_path / "run/sft_evolved/model.safetensors").stat().st_mtime_ns == before
    assert {k: v["accuracy"] for k, v in again["stages"].items()} == {
        k: v["accuracy"] for k, v in stages.items()
    }

    # A stage trained again (its folder removed) is evaluated again, not paired with its old results.
    import shutil

    shutil.rmtree(tmp_path / "run/sft_seed")
    graded = tmp_path / "run/eval/sft_seed/heldout.jsonl"
    graded.write_text(graded.read_text().replace('"correct": [false]', '"correct": [true]'))
    redone = run_pipeline(config)["stages"]["sft_seed"]
    assert redone["accuracy"] == stages["sft_seed"]["accuracy"]  # the edit above is gone
    assert (tmp_path / "run/sft_seed/model.safetensors").exists()


def test_config_rejects_unknown_stage():
    with pytest.raises(ValueError, match="unknown stage"):
        PipelineConfig(stages=["base", "rlhf"])


def test_ppo_control_and_paper_reward_are_optional_stages():
    assert PipelineConfig().stages == list(DEFAULT_STAGES) and "ppo_random" not in DEFAULT_STAGES
    config = PipelineConfig(stages=["sft_evolved", "ppo_random", "ppo_paper"])
    assert PPO_REWARDS["ppo_random"] == ["random"] and PPO_REWARDS["ppo_paper"] == ["irm", "prm", "verifier"]
    assert config.val_size >= 50


def test_tiny_pipeline_config_loads():
    config = load_config(PipelineConfig, REPO / "configs/tiny/pipeline.yaml")
    assert set(config.stages) <= set(STAGES) and config.test_size >= 100
    for path in (config.evolve_config, config.solve_config, config.sft_config):
        assert (REPO / path).exists()


@pytest.mark.slow
def test_checker_stage_reranks_the_sft_models_samples(tmp_path, tiny_model_dir):
    from reward_models.step_checker import arithmetic_facts

    config = PipelineConfig(
        **small_run(tmp_path, tiny_model_dir),
        checker_config=shrunk(tmp_path, "checker", max_value=3, max_steps=4, save_strategy="no"),
        stages=["sft_evolved", "checker"],
        test_size=4,
        sample_limit=4,
        sample_k=2,
        eval_max_new_tokens=16,
        eval_batch_size=8,
    )
    stages = run_pipeline(config)["stages"]
    checker = stages["checker"]
    assert checker["train_examples"] == len(list(arithmetic_facts(3)))
    assert 0.0 <= checker["prm_best_of_2"] <= 1.0
    assert checker["sampled_pass@1"] == stages["sft_evolved"]["sampled_pass@1"]  # the same samples
    assert (tmp_path / "run/checker/model.safetensors").exists()


def test_a_bad_checker_config_fails_before_any_stage_runs(tmp_path):
    config = PipelineConfig(
        output=str(tmp_path / "run"),
        checker_config=shrunk(tmp_path, "checker", max_value=0),
        stages=["sft_evolved", "checker"],
    )
    with pytest.raises(ValueError, match="checker_config.*max_value"):
        run_pipeline(config)
    assert not (tmp_path / "run" / "evol").exists()


def reward_model_run(tmp_path: Path, model: Path, name: str, parallel: bool) -> PipelineConfig:
    """Every stage the second process overlaps (sft_seed, ppo beside irm + prm), shrunk to seconds."""
    return PipelineConfig(
        **{**small_run(tmp_path, model), "output": str(tmp_path / name)},
        irm_config=shrunk(tmp_path, "irm", max_steps=2, save_strategy="no"),
        label_prm_config=shrunk(tmp_path, "label_prm", limit=3, num_samples=2, max_new_tokens=12),
        prm_config=shrunk(tmp_path, "prm", max_steps=2, save_strategy="no"),
        ppo_config=shrunk(
            tmp_path,
            "ppo",
            steps=3,
            batch_size=2,
            num_samples=2,
            mini_batch_size=4,
            max_new_tokens=12,
            eval_limit=4,
            eval_steps=1,
            report_to="none",
        ),
        stages=["sft_seed", "sft_evolved", "irm", "prm", "ppo"],
        parallel_reward_models=parallel,
        ppo_steps=1,  # the pipeline's override of the PPO config's 3
        test_size=4,
        sample_limit=2,
        sample_k=2,
        eval_max_new_tokens=12,
        eval_batch_size=8,
    )


@pytest.mark.slow
def test_reward_models_train_beside_ppo_with_the_same_results(tmp_path, tiny_model_dir):
    together = run_pipeline(reward_model_run(tmp_path, tiny_model_dir, "together", parallel=True))
    log = (tmp_path / "together/reward_models.log").read_text()
    assert "train-irm" in log and "train-prm" in log  # trained in the second process
    apart = run_pipeline(reward_model_run(tmp_path, tiny_model_dir, "apart", parallel=False))
    assert not (tmp_path / "apart/reward_models.log").exists()
    summary = json.loads((tmp_path / "together/summary.json").read_text())
    assert list(summary["stages"]) == ["sft_seed", "sft_evolved", "irm", "prm", "ppo"]  # STAGES order
    for stage, key in [("irm", "pairwise_accuracy"), ("prm", "step_auc"), ("ppo", "accuracy")]:
        # 3 labelled problems: the PRM's step AUC may be nan
        expected = pytest.approx(apart["stages"][stage][key], nan_ok=True)
        assert together["stages"][stage][key] == expected, stage
    assert "prm_pair_accuracy" in summary["stages"]["sft_evolved"]  # sampled after the PRM was there
    assert summary["stages"]["ppo"]["last_step"] == 1

    # A re-run finds both reward models in place and starts no second process.
    before = log
    run_pipeline(reward_model_run(tmp_path, tiny_model_dir, "together", parallel=True))
    assert (tmp_path / "together/reward_models.log").read_text() == before


@pytest.mark.slow
def test_a_failed_reward_model_process_fails_the_pipeline_and_keeps_what_finished(tmp_path, tiny_model_dir):
    config = reward_model_run(tmp_path, tiny_model_dir, "run", parallel=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run/irm").write_text("a file where the IRM's folder goes")
    with pytest.raises(RuntimeError, match=r"reward models' process.*reward_models\.log"):
        run_pipeline(config)
    stages = json.loads((tmp_path / "run/summary.json").read_text())["stages"]
    assert {"sft_seed", "sft_evolved", "ppo"} <= set(stages)  # the main process's stages are kept
    assert (tmp_path / "run/ppo/ppo_summary.json").exists()


def test_fresh_ppo_problems_are_new_to_every_other_split(tmp_path):
    from wizardmath.pipeline import Pipeline

    pipeline = Pipeline(
        PipelineConfig(
            output=str(tmp_path / "run"), test_size=30, val_size=30, ppo_data="fresh", ppo_data_size=40
        )
    )
    test_path = pipeline.test_set()
    val_path = pipeline.val_set(test_path)
    sft_problems = tmp_path / "run/problems.jsonl"
    sft_problems.write_text(val_path.read_text().replace('"val/', '"sft/'))  # texts already seen
    fresh = pipeline.ppo_problems(test_path, val_path, sft_problems)

    def texts(path: Path) -> set[str]:
        return {json.loads(line)["problem"] for line in path.read_text().splitlines()}

    assert len(texts(fresh)) == 40 and not texts(fresh) & (texts(test_path) | texts(val_path))
    assert all(json.loads(line)["answer"] for line in fresh.read_text().splitlines())
    assert pipeline.ppo_problems(test_path, val_path, sft_problems) == fresh  # made once, then reused

    evolved = Pipeline(PipelineConfig(output=str(tmp_path / "other")))
    assert evolved.ppo_problems(test_path, val_path, sft_problems) == sft_problems  # the default
    with pytest.raises(ValueError, match="ppo_data"):
        PipelineConfig(ppo_data="gsm8k")
    with pytest.raises(ValueError, match="ppo_steps"):
        PipelineConfig(ppo_steps=-1)


def finished(out: Path, *stages: str) -> None:
    """Done markers for ``stages`` in ``out``, as their trainers leave them."""
    from wizardmath.pipeline_state import STAGE_MARKERS

    for stage in stages:
        (out / STAGE_MARKERS[stage]).parent.mkdir(parents=True, exist_ok=True)
        (out / STAGE_MARKERS[stage]).write_text("{}")


def test_training_a_stage_again_beneath_its_finished_stages_is_refused(tmp_path):
    from wizardmath.config import ConfigError
    from wizardmath.pipeline import Pipeline

    out = tmp_path / "run"
    config = PipelineConfig(output=str(out), model="some/model", stages=["sft_evolved", "irm", "ppo"])
    finished(out, "irm", "ppo")  # the SFT model they were built from is gone
    stale = r"irm from sft_evolved; ppo from sft_evolved.*remove \S+/irm \S+/ppo as well"
    with pytest.raises(ConfigError, match=stale):
        Pipeline(config).state.check_not_stale()
    assert (out / "irm/irm_summary.json").exists()  # nothing deleted
    finished(out, "sft_evolved")
    pipeline = Pipeline(config)
    pipeline.state.check_not_stale()
    assert pipeline.state.redo == set()  # everything is there: nothing is trained or re-evaluated

    # The verifier-only PPO was not built from the PRM: training the PRM (again) leaves it valid.
    config.stages = ["sft_evolved", "prm", "ppo"]
    pipeline = Pipeline(config)
    pipeline.state.check_not_stale()
    assert pipeline.state.redo == {"prm"}
    finished(out, "ppo_paper")  # ... but the paper's reward was
    with pytest.raises(ConfigError, match=r"\(ppo_paper from prm; missing: \S+prm_summary.json\)"):
        Pipeline(config).state.check_not_stale()


def test_an_evaluation_older_than_its_model_is_redone(tmp_path, monkeypatch):
    import os

    import wizardmath.eval
    from wizardmath.pipeline import Pipeline

    seen: dict[str, bool] = {}

    def fake_evaluate(config):
        seen[Path(config.output).name] = config.overwrite
        return {"accuracy": 0.5, "n": 1}

    monkeypatch.setattr(wizardmath.eval, "evaluate", fake_evaluate)
    out = tmp_path / "run"
    finished(out, "sft_seed", "sft_evolved")
    for stage, age in (("sft_seed", -100), ("sft_evolved", 100)):  # seconds after its model was saved
        run_json = out / "eval" / stage / "heldout.run.json"
        run_json.parent.mkdir(parents=True)
        run_json.write_text("{}")
        made = (out / stage / "sft_summary.json").stat().st_mtime + age
        os.utime(run_json, (made, made))
    pipeline = Pipeline(PipelineConfig(output=str(out), model="m", stages=["sft_seed", "sft_evolved"]))
    for stage in ("sft_seed", "sft_evolved"):
        pipeline.evaluate(stage, "m", out / "test.jsonl", 1, 1.0)
    # sft_seed was trained again after its evaluation (killed, say, before the new one finished).
    assert seen == {"sft_seed": True, "sft_evolved": False}


def test_resuming_with_settings_that_made_the_results_is_required(tmp_path):
    from wizardmath.config import ConfigError
    from wizardmath.pipeline import Pipeline

    out = tmp_path / "run"
    Pipeline(PipelineConfig(output=str(out))).record("base", {"accuracy": 0.0})
    finished(out, "base", "sft_evolved")
    with pytest.raises(ConfigError, match=r"summary\.json.*val_size: 100 -> 400"):
        Pipeline(PipelineConfig(output=str(out), val_size=400))
    # Stages, budgets and batch sizes do not change what the finished stages wrote; PPO settings may
    # change until a PPO stage has finished.
    Pipeline(PipelineConfig(output=str(out), stages=["base"], ppo_max_minutes=9.0, eval_batch_size=8))
    Pipeline(PipelineConfig(output=str(out), ppo_steps=36))
    finished(out, "ppo_random")
    with pytest.raises(ConfigError, match="ppo_steps: 0 -> 36"):
        Pipeline(PipelineConfig(output=str(out), ppo_steps=36))

    # A problem set already written must be the one this run asks for; it is never rewritten.
    sets = Pipeline(PipelineConfig(output=str(tmp_path / "sets"), test_size=30))
    test_path = sets.test_set()
    written = test_path.read_bytes()
    assert Pipeline(sets.config).test_set() == test_path  # the same settings: reused
    with pytest.raises(ConfigError, match=r"test\.jsonl: holds 30 problems of seed 1000003.*asks for 40"):
        Pipeline(PipelineConfig(output=str(tmp_path / "sets"), test_size=40)).test_set()
    with pytest.raises(ConfigError, match="asks for 30 of seed 7"):
        Pipeline(PipelineConfig(output=str(tmp_path / "sets"), test_size=30, test_seed=7)).test_set()
    assert test_path.read_bytes() == written

    # Evolution's output counts as a finished result of the evolve config (a run killed in SFT).
    evolve = shrunk(tmp_path, "evolve")
    killed = PipelineConfig(output=str(tmp_path / "killed"), evolve_config=evolve)
    Pipeline(killed).record("base", {"accuracy": 0.0})
    finished_file = tmp_path / "killed/evol/stats.json"
    finished_file.parent.mkdir()
    finished_file.write_text("{}")
    Path(evolve).write_text(Path(evolve).read_text().replace("num_seeds: 300", "num_seeds: 30"))
    with pytest.raises(ConfigError, match="evolve_config .* now differs in num_seeds"):
        Pipeline(killed)

    # An edited stage config under the same path counts too, once a stage that read it has finished.
    sft = shrunk(tmp_path, "sft")
    edited = PipelineConfig(output=str(tmp_path / "edited"), sft_config=sft)
    Pipeline(edited).record("sft_seed", {"accuracy": 0.0})
    Path(sft).write_text(Path(sft).read_text() + "# a comment changes nothing\n")
    Pipeline(edited)
    Path(sft).write_text(Path(sft).read_text().replace("num_train_epochs: 7", "num_train_epochs: 2"))
    Pipeline(edited)  # nothing has finished from it yet
    finished(tmp_path / "edited", "sft_seed")
    with pytest.raises(ConfigError, match="sft_config .*sft.yaml now differs in num_train_epochs"):
        Pipeline(edited)


def test_a_ppo_reward_that_needs_an_untrained_reward_model_fails_before_any_stage(tmp_path):
    from wizardmath.config import ConfigError
    from wizardmath.pipeline_config import validate_stage_configs

    with pytest.raises(ConfigError, match=r"ppo_paper's reward \(irm x prm x verifier\) needs the irm, prm"):
        validate_stage_configs(PipelineConfig(stages=["sft_evolved", "ppo_paper"]))
    irm_reward = shrunk(tmp_path, "ppo", reward_funcs=["irm", "verifier"])
    with pytest.raises(ConfigError, match="ppo's reward .* needs the irm stage"):
        validate_stage_configs(PipelineConfig(stages=["sft_evolved", "prm", "ppo"], ppo_config=irm_reward))
    validate_stage_configs(PipelineConfig(stages=["sft_evolved", "irm", "ppo"], ppo_config=irm_reward))


def test_a_run_without_ppo_never_reads_the_ppo_config(tmp_path):
    from wizardmath.pipeline import Pipeline

    config = PipelineConfig(output=str(tmp_path / "run"), stages=["sft_seed", "irm"], ppo_config="gone.yaml")
    with Pipeline(config).reward_models_beside("", tmp_path / "problems.jsonl") as parallel:
        assert not parallel  # no SFT model yet: nothing to train beside


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"val_size": 0}, "val_size must be >= 1"),
        ({"sample_k": 0}, "sample_k must be >= 1"),
        ({"test_min_ops": 3, "test_max_ops": 2}, "test_min_ops <= test_max_ops"),
        ({"stages": ["sft_evolved", "checker"], "sample_limit": 0}, "checker.*sample_limit >= 1"),
    ],
)
def test_config_rejects_sizes_that_cannot_work(changes, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**changes)
