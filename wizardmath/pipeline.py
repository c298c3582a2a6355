"""``wizardmath pipeline``: the RLEIF stages end to end, through the same entry points a user calls.

With ``configs/tiny/pipeline.yaml`` it runs on a laptop CPU in minutes:

1. ``init-tiny`` (or ``--model`` for a real base model), 2. a held-out symbolic test set (its own
seed; evolution is decontaminated against it), 3. ``evolve`` (symbolic backend: seed round + evolved
rounds), 4. ``solve`` (gold step-by-step solutions), 5. ``sft`` on the seed problems only and on
seeds + evolved problems, 6. the reward models and PPO where configured, 7. ``eval`` of each model on
the held-out set. Without a GPU the reward models train in a second process (one torch thread each)
while this one runs ``sft_seed`` and the PPO stages whose reward needs neither
(``parallel_reward_models``). Every stage writes into ``DIR/<stage>/`` and is skipped when its result
is already there, so a killed pipeline resumes, with the settings that made those results
(``check_resume``). A stage whose folder was removed trains again and is evaluated again; if finished
stages were built from its old model, the run is refused instead (``pipeline_state``).
``DIR/summary.json`` holds, per stage, held-out ``accuracy`` (0-1), ``n`` (test problems),
``train_examples`` and ``seconds`` (the reward models: their own metrics and ``seconds``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

from wizardmath.jsonl import OWN_FILE, read_jsonl, write_json, write_jsonl
from wizardmath.pipeline_config import (
    DEFAULT_STAGES,
    PPO_REWARDS,
    REWARD_MODELS,
    STAGES,
    PipelineConfig,
    check_resume,
    config_contents,
    resolve,
    stage_entry,
    stage_rewards,
    validate_stage_configs,
)
from wizardmath.pipeline_eval import EvalStages
from wizardmath.pipeline_state import DATA_STEP_OUTPUTS, StageState, outdated

__all__ = ["DEFAULT_STAGES", "PPO_REWARDS", "STAGES", "Pipeline", "PipelineConfig", "run_pipeline"]


class Pipeline(EvalStages):
    """Runs the stages in order; each stage's result lands in ``self.stages`` and ``summary.json``."""

    def __init__(self, config: PipelineConfig, writes_summary: bool = True):
        self.config = config
        self.writes_summary = writes_summary  # False in the reward models' second process
        self.out = Path(config.output)
        self.out.mkdir(parents=True, exist_ok=True)
        self.summary_path = self.out / "summary.json"
        previous = json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}
        self.contents = config_contents(config)  # the stage configs as this run reads them
        self.state = StageState(self.out, config, lambda: self.ppo_base.reward_funcs)
        check_resume(config, self.contents, previous, self.summary_path, self.state.finished_steps())
        self.stages: dict[str, dict[str, Any]] = previous.get("stages", {})

    # -- stages --------------------------------------------------------------------------------

    def base_model(self) -> str:
        if self.config.model:
            return self.config.model
        from wizardmath.config import load_config
        from wizardmath.tiny import TinyConfig, init_tiny

        folder = self.out / "base"
        if not self.state.marker("base").exists():
            path = resolve(self.config.tiny_config) if self.config.tiny_config else None
            config = load_config(TinyConfig, path, output=str(folder), seed=self.config.seed)
            self.timed("init-tiny", lambda: init_tiny(config))
        return str(folder)

    def world_problems(self, name: str, size: int, seed: int, avoid: tuple[Path, ...] = ()) -> Path:
        """``DIR/<name>.jsonl``: ``size`` symbolic problems of the test set's kind, none with the text
        of a problem in ``avoid``; written once, then reused."""
        from wizardmath.evol.symbolic import generate_problems

        path, prefix = self.out / f"{name}.jsonl", name.split("_")[0]
        if path.exists():  # ids are <prefix>/<seed>/<index>: the file says what it was made with
            from wizardmath.config import ConfigError

            ids = [r["id"] for r in read_jsonl(path, max_bytes=OWN_FILE)]
            seeds = sorted({i.split("/")[1] for i in ids if i.count("/") == 2})
            if len(ids) != size or seeds != [str(seed)]:
                raise ConfigError(
                    f"{path}: holds {len(ids)} problems of seed {', '.join(seeds) or '?'}; this run asks "
                    f"for {size} of seed {seed}; use another --output, or the settings that made it"
                )
            return path
        seen = {r["problem"] for p in avoid for r in read_jsonl(p, max_bytes=OWN_FILE)}
        problems = generate_problems(
            size, seed, self.config.test_min_ops, self.config.test_max_ops, exclude=seen, prefix=prefix
        )
        write_jsonl(path, (p.to_dict() for p in problems))
        return path

    def test_set(self) -> Path:
        """A held-out symbolic test set, generated before evolution so evolution can avoid it."""
        return self.world_problems("test", self.config.test_size, self.config.test_seed)

    def val_set(self, test_path: Path) -> Path:
        """Validation problems for PPO's choice of step, disjoint from the test set."""
        return self.world_problems("val", self.config.val_size, self.config.val_seed, (test_path,))

    def ppo_problems(self, test_path: Path, val_path: Path, problems: Path) -> Path:
        """PPO's prompts: the evolved SFT problems, or fresh ones of the test set's kind (new to the
        SFT model, so the reward teaches the task rather than what it memorised)."""
        if self.config.ppo_data == "evolved":
            return problems
        avoid = (test_path, val_path, problems)
        return self.world_problems(
            "ppo_problems", self.config.ppo_data_size, self.config.ppo_data_seed, avoid
        )

    def evolve(self, test_path: Path) -> Path:
        from wizardmath.config import load_config
        from wizardmath.evol import EvolveConfig, evolve

        folder = self.out / "evol"
        if not (self.out / DATA_STEP_OUTPUTS["evolve"]).exists() or not (folder / "problems.jsonl").exists():
            base = load_config(EvolveConfig, resolve(self.config.evolve_config))
            config = load_config(
                EvolveConfig,
                resolve(self.config.evolve_config),
                output=str(folder),
                seed=self.config.seed,
                decontaminate=[*base.decontaminate, str(test_path), str(self.out / "val.jsonl")],
                progress=False,
            )
            self.timed("evolve", lambda: evolve(config))
        return folder / "problems.jsonl"

    def solve(self, problems: Path) -> tuple[Path, Path]:
        """Solutions for every accepted problem, split into seed-only and all (seeds + evolved)."""
        from wizardmath.config import load_config
        from wizardmath.evol import SolveConfig, solve

        folder = self.out / "solve"
        everything, seeds_only = folder / "sft.jsonl", self.out / DATA_STEP_OUTPUTS["solve"]
        if not seeds_only.exists():
            config = load_config(
                SolveConfig, resolve(self.config.solve_config), data_path=str(problems), output=str(folder),
                seed=self.config.seed, progress=False,
            )  # fmt: skip
            self.timed("solve", lambda: solve(config))
            seed_ids = {r["id"] for r in read_jsonl(problems, max_bytes=OWN_FILE) if not r.get("round")}
            write_jsonl(
                seeds_only, (r for r in read_jsonl(everything, max_bytes=OWN_FILE) if r["id"] in seed_ids)
            )
        return everything, seeds_only

    def sft(self, name: str, model: str, data: Path) -> tuple[str, int, float]:
        from wizardmath.train.sft import SFTConfig

        folder = self.out / name
        summary = self.once(
            f"sft ({name})", name, SFTConfig,
            model=model, data_path=str(data), output_dir=str(folder), disable_tqdm=True,
        )  # fmt: skip
        return str(folder), summary["examples"], summary["seconds"]

    def irm(self, model: str, evol_dir: Path) -> str:
        """The Instruction Reward Model, trained on evolved siblings ranked by the symbolic judge."""
        from reward_models.irm import IRMConfig

        folder = self.out / "irm"
        summary = self.once(
            "train-irm", "irm", IRMConfig,
            model=model, data_path=str(evol_dir), output_dir=str(folder), disable_tqdm=True,
        )  # fmt: skip
        keys = ("pairwise_accuracy", "eval_pairs", "train_pairs", "seconds")
        self.record("irm", {k: summary[k] for k in keys if k in summary})
        return str(folder)

    def prm(self, model: str, problems: Path) -> str:
        """The Process Reward Model: the SFT model's own solutions, labelled step by step, then trained."""
        from reward_models.labelers import LabelConfig, label_prm
        from reward_models.prm import PRMConfig
        from wizardmath.config import load_config

        labels, folder = self.out / "prm_labels.jsonl", self.out / "prm"
        done = self.state.marker("prm")
        if not done.exists():
            label_config = load_config(
                LabelConfig, resolve(self.config.label_prm_config), model=model, data_path=str(problems),
                output=str(labels), seed=self.config.seed,
                overwrite=outdated(Path(f"{labels}.run.json"), self.state.marker("sft_evolved")),
            )  # fmt: skip
            _, label_seconds = self.timed("label-prm", lambda: label_prm(label_config))
            config = load_config(
                PRMConfig, resolve(self.config.prm_config), model=model, data_path=str(labels),
                output_dir=str(folder), seed=self.config.seed, disable_tqdm=True,
            )  # fmt: skip
            summary, seconds = self.timed("train-prm", lambda: stage_entry("prm")(config))
            summary["seconds"] = round(label_seconds + seconds, 1)
            write_json(done, summary)
        summary = json.loads(done.read_text())
        keys = ("step_auc", "eval_records", "train_records", "seconds")
        self.record("prm", {k: summary[k] for k in keys if k in summary})
        return str(folder)

    def ppo(
        self,
        stage: str,
        model: str,
        problems: Path,
        test_path: Path,
        val_path: Path,
        reward_models: dict[str, str],
    ) -> None:
        from wizardmath.train.ppo import PPOConfig

        folder = self.out / stage
        base = self.ppo_base
        funcs = self.ppo_reward_funcs(stage)
        # Reward models the pipeline trained are used when the run's reward asks for them (every one it
        # asks for is a wanted stage: validate_stage_configs).
        paths = {f"{name}_path": path for name, path in reward_models.items() if name in funcs}
        summary = self.once(
            stage, stage, PPOConfig,
            model=model, data_path=str(problems), eval_data_path=str(val_path), output_dir=str(folder),
            report_to="none", max_minutes=self.config.ppo_max_minutes, reward_funcs=funcs,
            steps=self.config.ppo_steps or base.steps, **paths,
        )  # fmt: skip
        examples = summary["steps"] * base.batch_size * base.num_samples
        self.evaluate(stage, str(folder), test_path, examples, summary["seconds"])
        keys = ("best_step", "last_step", "accuracy_before", "accuracy")
        self.record(
            stage,
            {
                **self.stages[stage],
                **{f"val_{k}" if k.startswith("acc") else k: summary.get(k) for k in keys},
                "reward_funcs": funcs,
            },
        )
        self.sampled(stage, str(folder), test_path)

    def reward_models(self, model: str, problems: Path) -> dict[str, str]:
        """The wanted reward models (trained unless already there): their folders by name."""
        trained: dict[str, str] = {}
        if "irm" in self.config.stages:
            trained["irm"] = self.irm(model, problems.parent)
        if "prm" in self.config.stages:
            trained["prm"] = self.prm(model, problems)
        return trained

    @functools.cached_property
    def ppo_base(self) -> Any:
        """The PPO config as its YAML gives it (read once; each PPO stage overrides some fields)."""
        from wizardmath.config import load_config
        from wizardmath.train.ppo import PPOConfig

        return load_config(PPOConfig, resolve(self.config.ppo_config))

    def ppo_reward_funcs(self, stage: str) -> list[str]:
        """A PPO stage's reward (``stage_rewards``: its own, else the PPO config's)."""
        return stage_rewards(stage, self.ppo_base.reward_funcs)

    def needs_reward_models(self, stage: str) -> bool:
        return bool(set(REWARD_MODELS) & set(self.ppo_reward_funcs(stage)))

    def reward_models_beside(self, model: str, problems: Path) -> contextlib.AbstractContextManager[bool]:
        """A context that trains the reward models in a second process while its body runs, when that
        saves time: CPU only (on a GPU two trainers would share its memory), something to overlap, and
        something left to train. ``as`` gives whether it does."""
        import torch

        from wizardmath.pipeline_parallel import second_process

        wanted = self.config.stages
        todo = [name for name in REWARD_MODELS if name in wanted and name in self.state.redo]
        ppo_alone = [s for s in PPO_REWARDS if s in wanted and not self.needs_reward_models(s)]
        overlap = set(ppo_alone) | ({"sft_seed"} & set(wanted))
        if (
            not (model and self.config.parallel_reward_models and todo and overlap)
            or torch.cuda.is_available()
        ):
            return contextlib.nullcontext(False)
        log = self.out / "reward_models.log"
        print(f"[pipeline] {' + '.join(todo)}: in a second process (log: {log})", flush=True)
        args = [json.dumps(vars(self.config)), model, str(problems)]
        return second_process("wizardmath.pipeline", args, log, "the reward models' process (irm/prm)")

    def run(self) -> dict[str, Any]:
        start = time.perf_counter()
        wanted = set(self.config.stages)
        validate_stage_configs(self.config)
        self.state.check_not_stale()
        self.write_summary()  # the settings first: a run killed before its first stage ends is checked too
        base = self.base_model()
        test_path = self.test_set()
        if "base" in wanted:
            self.evaluate("base", base, test_path, 0, 0.0)
        val_path = self.val_set(test_path)
        if wanted - {"base"}:
            problems = self.evolve(test_path)
            everything, seeds_only = self.solve(problems)
            sft_model = ""
            if wanted - {"base", "sft_seed"}:
                sft_model, examples, seconds = self.sft("sft_evolved", base, everything)
                self.evaluate("sft_evolved", sft_model, test_path, examples, seconds)
            wants_ppo = bool(sft_model) and bool(wanted & set(PPO_REWARDS))
            prompts = self.ppo_problems(test_path, val_path, problems) if wants_ppo else problems
            ppo_stages = [s for s in PPO_REWARDS if s in wanted]
            with self.reward_models_beside(sft_model, problems) as parallel:
                if "sft_seed" in wanted:
                    model, examples, seconds = self.sft("sft_seed", base, seeds_only)
                    self.evaluate("sft_seed", model, test_path, examples, seconds)
                for stage in [s for s in ppo_stages if parallel and not self.needs_reward_models(s)]:
                    self.ppo(stage, sft_model, prompts, test_path, val_path, {})
                    ppo_stages.remove(stage)
            if sft_model:
                trained = self.reward_models(sft_model, problems)
                if wanted & {"prm", "checker", *PPO_REWARDS}:
                    self.sampled("sft_evolved", sft_model, test_path, trained.get("prm"))
                if "checker" in wanted:
                    self.checker(base, test_path)
                for stage in ppo_stages:
                    self.ppo(stage, sft_model, prompts, test_path, val_path, trained)
        total = round(time.perf_counter() - start, 1)
        self.write_summary(total_seconds=total)
        from wizardmath.pipeline_report import print_table, write_report

        print_table(self.stages, total, STAGES)

        write_report([self.out], self.out / "report.png")
        return {"stages": self.stages, "total_seconds": total}


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Run the configured stages; return (and write to ``DIR/summary.json``) the per-stage figures.

    One pipeline per folder: it holds ``DIR/.wizardmath.lock`` before it reads or writes anything there
    (a second one is refused, naming the holder); its stages lock their own folders inside."""
    from wizardmath.runstate import OutputLock

    with OutputLock(config.output, "pipeline"):
        return Pipeline(config).run()


def _train_reward_models(config_json: str, model: str, problems: str) -> None:
    """The second process: train the wanted reward models; the parent records them afterwards."""
    Pipeline(PipelineConfig(**json.loads(config_json)), writes_summary=False).reward_models(
        model, Path(problems)
    )


if __name__ == "__main__":  # the second process of Pipeline.reward_models_beside; not a user command
    if len(sys.argv) != 4:
        sys.exit("usage: python -m wizardmath.pipeline CONFIG_JSON SFT_MODEL PROBLEMS (internal)")
    _train_reward_models(*sys.argv[1:4])
