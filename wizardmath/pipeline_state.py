"""What a pipeline output folder already holds, for resuming: each stage's done marker, the stages a
run trains, the finished stages a retrained one would leave stale, and whether a result is older than
what it was made from.

Split from ``pipeline.py`` (which runs the stages): this is the bookkeeping that lets a re-run resume
without reusing results made by an older model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from wizardmath.pipeline_config import STAGE_TABLE, STAGES, PipelineConfig, stage_upstream

# Where each stage's file lands once its model is trained: the stage's "done" marker.
STAGE_MARKERS = {stage: Path(s.output) for stage, s in STAGE_TABLE.items()}
# The data steps before SFT have no model; these files say they are done.
DATA_STEP_OUTPUTS = {"evolve": Path("evol/stats.json"), "solve": Path("solve/sft_seed.jsonl")}


def outdated(result: Path, *sources: Path) -> bool:
    """Whether ``result`` is older than one of ``sources``: made from what they replaced (a stage
    trained again), so it is redone rather than reused."""
    made = result.stat().st_mtime if result.exists() else None
    return made is not None and any(src.exists() and src.stat().st_mtime > made for src in sources)


class StageState:
    """The stages finished in ``out`` and those this run trains (``redo``), for ``config``.
    ``config_rewards()`` gives the PPO config's reward; it is asked only of finished PPO stages that
    use it."""

    def __init__(self, out: Path, config: PipelineConfig, config_rewards: Callable[[], Sequence[str]]):
        self.out, self.config, self.config_rewards = out, config, config_rewards
        # Stages whose model this run trains (no marker yet): any old evaluation of theirs is stale.
        self.redo = {stage for stage in STAGES if self.trains(stage) and not self.marker(stage).exists()}

    def marker(self, stage: str) -> Path:
        return self.out / STAGE_MARKERS[stage]

    def finished(self) -> list[str]:
        """The stages whose model is there, in ``STAGES`` order."""
        return [stage for stage in STAGES if self.marker(stage).exists()]

    def finished_steps(self) -> set[str]:
        """The finished stages and data steps (what ``check_resume`` compares settings against)."""
        steps = {step for step, path in DATA_STEP_OUTPUTS.items() if (self.out / path).exists()}
        return {*self.finished(), *steps}

    def trains(self, stage: str) -> bool:
        """Whether this run trains ``stage``'s model (unless it is there): wanted, or needed by a wanted
        stage; a base model given by ``--model`` is never trained."""
        wanted = set(self.config.stages)
        if stage == "base":
            return not self.config.model
        if stage == "sft_evolved":
            return bool(wanted - {"base", "sft_seed"})
        return stage in wanted

    def upstream(self, stage: str) -> list[str]:
        """The stages whose models ``stage``'s model was built from."""
        return stage_upstream(stage, self.config_rewards)

    def check_not_stale(self) -> None:
        """Refuse to train a stage again beneath finished stages built from its old model: they would
        stay, and summary.json would pair them with the new one. Nothing is deleted."""
        from wizardmath.config import ConfigError

        retrained = {
            stage: [up for up in self.upstream(stage) if up in self.redo] for stage in self.finished()
        }
        stale = {stage: gone for stage, gone in retrained.items() if gone}
        if stale:
            built = "; ".join(f"{stage} from {', '.join(gone)}" for stage, gone in stale.items())
            missing = sorted({str(self.marker(up)) for gone in stale.values() for up in gone})
            folders = " ".join(str(self.marker(stage).parent) for stage in stale)
            raise ConfigError(
                f"{self.out}: finished stages were built from models this run would train again ({built}; "
                f"missing: {', '.join(missing)}); remove {folders} as well, or use another --output"
            )
