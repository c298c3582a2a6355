"""Configs of ``wizardmath evolve`` and ``wizardmath solve``, and how they build their backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardmath.args import (  # noqa: F401  (the one builder; evol.engine and solve import it here)
    BackendArguments,
    JudgeArguments,
    build_backend,
    check_limit,
    default_output,
    parse_backend_args,
)
from wizardmath.data.templates import TEMPLATES

# Beside the checkout (../shared/data), found from the package, not the working folder: evolution run
# from another folder must not silently skip decontamination.
_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_TEST_SETS = [str(_SHARED / "gsm8k" / "test.jsonl"), str(_SHARED / "math500" / "test.jsonl")]
PARENTS = ("seeds", "previous")


@dataclass
class BackendFields(BackendArguments):
    """Fields shared by every stage that talks to a generation backend (evolve, solve)."""

    backend: str = field(
        default="symbolic",
        metadata={"help": "Generation backend: openai, transformers, vllm, symbolic or fake."},
    )
    seed: int = field(
        default=0, metadata={"help": "Seed for every random choice (operations, sampling, symbolic world)."}
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    overwrite: bool = field(default=False, metadata={"help": "Delete what --output holds and start clean."})
    resume: bool = field(
        default=False,
        metadata={"help": "Append to --output even though it was written with other data or settings."},
    )

    def manifest(self, *inputs: str) -> dict[str, Any]:
        """Settings a resumed run must share (plus a fingerprint of the input files)."""
        from dataclasses import asdict

        from wizardmath.runstate import fingerprint

        # How much of the same data (limit, num_seeds) may grow or shrink: ids stay the same.
        free = (
            "base_url",
            "judge_base_url",
            "backend_args",
            "progress",
            "overwrite",
            "resume",
            "chunk_size",
            "output",
            "limit",
            "num_seeds",
        )
        return {
            **{k: v for k, v in asdict(self).items() if k not in free},
            "input_files": fingerprint(inputs),
        }


@dataclass
class EvolveConfig(BackendFields, JudgeArguments):
    """Math Evol-Instruct: seeds in, evolved problems out.

    Writes ``DIR/problems.jsonl``, ``rejected.jsonl`` and ``stats.json``."""

    output: str = field(
        default=default_output("evolve"),
        metadata={"help": "Output folder (problems.jsonl, rejected.jsonl, stats.json)."},
    )
    dataset: list[str] = field(
        default_factory=lambda: ["symbolic"],
        metadata={
            "help": (
                "Seed data sets: symbolic (generated), gsm8k, math, math500, jsonl or hub names; one or more."
            )
        },
    )
    data_path: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Local files for the seed data sets, in the same order ('' = hub); empty = hub for all."
        },
    )
    split: str = field(default="train", metadata={"help": "Split of the seed data sets."})
    num_seeds: int = field(
        default=0, metadata={"help": "Seeds per data set (0 = all; the symbolic set needs a number)."}
    )
    seed_min_ops: int = field(default=1, metadata={"help": "Symbolic seeds: fewest arithmetic steps."})
    seed_max_ops: int = field(default=3, metadata={"help": "Symbolic seeds: most arithmetic steps."})
    rounds: list[str] = field(
        default_factory=lambda: ["down", "down", "up", "up", "up"],
        metadata={
            "help": (
                "Operations per round: up, down, breadth, all, or op:weight,op:weight (the paper: "
                "2 down + 3 up)."
            )
        },
    )
    round_parents: list[str] = field(
        default_factory=lambda: ["seeds", "previous", "seeds", "previous", "previous"],
        metadata={
            "help": (
                "Per round, what it evolves: 'seeds' or 'previous' (the previous round's accepted problems)."
            )
        },
    )
    fanout: list[int] = field(
        default_factory=lambda: [6, 1, 6, 1, 1],
        metadata={
            "help": (
                "Per round, evolutions per parent (6 from seeds then 1 per problem: ~6 per seed per round)."
            )
        },
    )
    temperature: float = field(
        default=0.7, metadata={"help": "Sampling temperature of the evolver (the paper: 0.7)."}
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest evolved problem, in tokens."})
    prompt_dir: str = field(
        default="", metadata={"help": "Folder of <operation>.txt templates overriding or adding operations."}
    )
    equal_judge: bool = field(
        default=True,
        metadata={"help": "Ask the judge whether a rewrite equals its parent (no information gain)."},
    )
    solver_backend: str = field(
        default="", metadata={"help": "Backend that solves candidates ('' = the evolver's backend)."}
    )
    solver_model: str | None = field(
        default=None,
        metadata={"help": "Model of the solver (unset: the evolver's model when the backend is the same)."},
    )
    solver_samples: int = field(
        default=4, metadata={"help": "K: solver samples per candidate; 0 skips the solvability check."}
    )
    solver_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of the solver."})
    solver_max_new_tokens: int = field(default=1024, metadata={"help": "Longest solver reply, in tokens."})
    solver_template: str = field(
        default="auto",
        metadata={
            "help": (
                f"Prompt template for the solver: {', '.join(TEMPLATES)} (auto: chat when the solver "
                "model has a chat template or is served over HTTP)."
            )
        },
    )
    agreement_threshold: float = field(
        default=0.75, metadata={"help": "Share of solver samples that must agree on the answer."}
    )
    dedup_threshold: float = field(
        default=0.9,
        metadata={"help": "MinHash Jaccard at which two problems are near-duplicates (1.0 = exact only)."},
    )
    decontaminate: list[str] = field(
        default_factory=lambda: list(SHARED_TEST_SETS),
        metadata={
            "help": (
                "Test-set JSONL files no problem may overlap (a missing file is an error); false = no check."
            )
        },
    )
    decontam_ngram: int = field(default=13, metadata={"help": "Word n-gram size of the contamination check."})
    decontam_threshold: float = field(
        default=0.0,
        metadata={
            "help": "Share of a problem's n-grams in the test sets above which it is contaminated (0 = any)."
        },
    )
    chunk_size: int = field(
        default=256,
        metadata={
            "help": (
                "Candidates per batch (records are written after each batch, or as they finish on "
                "async backends)."
            )
        },
    )

    def __post_init__(self) -> None:
        if self.decontaminate is False or [str(d).lower() for d in self.decontaminate] in (
            ["false"],
            ["none"],
            ["off"],
        ):
            # `decontaminate: false` (YAML) or `--decontaminate false`: no check, on purpose
            self.decontaminate = []
        n = len(self.rounds)
        if len(self.round_parents) != n or len(self.fanout) != n:
            raise ValueError(
                f"rounds ({n}), round_parents ({len(self.round_parents)}) and fanout ({len(self.fanout)}) "
                "need one entry per round"
            )
        for parents in self.round_parents:
            if parents not in PARENTS:
                raise ValueError(f"round_parents entries must be {' or '.join(PARENTS)}, got {parents!r}")
        if self.round_parents and self.round_parents[0] != "seeds":
            raise ValueError("the first round can only evolve the seeds: set round_parents[0] to 'seeds'")
        if any(f < 1 for f in self.fanout):
            raise ValueError(f"fanout entries must be >= 1, got {self.fanout}")
        if self.temperature < 0:  # refused here, before the seeds are written, not at the first call
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.data_path and len(self.data_path) != len(self.dataset):
            raise ValueError(
                f"data_path needs one entry per dataset ({len(self.dataset)}), got {len(self.data_path)}"
            )
        if "symbolic" in self.dataset and self.num_seeds < 1:
            raise ValueError("the symbolic seed set is generated: set num_seeds (e.g. --num_seeds 100)")
        if not 0.0 < self.agreement_threshold <= 1.0:
            raise ValueError(f"agreement_threshold must be in (0, 1], got {self.agreement_threshold}")
        if self.solver_samples < 0 or self.chunk_size < 1:
            raise ValueError("solver_samples must be >= 0 and chunk_size >= 1")
        if self.solver_template not in TEMPLATES:
            raise ValueError(
                f"solver_template must be one of {', '.join(TEMPLATES)}, got {self.solver_template!r}"
            )
        from wizardmath.evol.operations import load_operations, parse_round

        ops = load_operations(self.prompt_dir or None)
        for spec in self.rounds:  # unknown operation names fail here, before any request is sent
            parse_round(spec, ops)


@dataclass
class SolveConfig(BackendFields):
    """Verified step-by-step solutions with a teacher model.

    Problems JSONL in, TRL prompt/completion JSONL out."""

    data_path: str = field(
        default="", metadata={"help": "Problems to solve: a JSONL file (e.g. DIR/problems.jsonl of evolve)."}
    )
    dataset: str = field(
        default="jsonl",
        metadata={"help": "Data set of the problems: jsonl, gsm8k, math, math500, symbolic or a hub name."},
    )
    split: str = field(default="train", metadata={"help": "Split, for named data sets."})
    limit: int | None = field(
        default=None,
        metadata={"help": "Solve at most this many problems (unset = all; the symbolic set: 100)."},
    )
    output: str = field(
        default=default_output("solve"),
        metadata={"help": "Output folder (sft.jsonl, sft_rejected.jsonl, solve_stats.json)."},
    )
    num_samples: int = field(default=4, metadata={"help": "K: teacher samples per problem."})
    temperature: float = field(default=0.7, metadata={"help": "Teacher sampling temperature."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest solution, in tokens."})
    keep_per_problem: int = field(
        default=1, metadata={"help": "Verified solutions kept per problem (SFT rows)."}
    )
    template: str = field(
        default="auto",
        metadata={
            "help": (
                f"Prompt template of the SFT data and the teacher: {', '.join(TEMPLATES)} (auto: chat, "
                "with conversational rows, when the teacher has a chat template or is served over HTTP)."
            )
        },
    )
    require_gold: bool = field(
        default=False, metadata={"help": "Skip problems without a gold answer instead of using the majority."}
    )
    majority_threshold: float = field(
        default=0.5,
        metadata={"help": "Without gold: share of samples the majority answer needs (more than this)."},
    )
    chunk_size: int = field(default=256, metadata={"help": "Problems per batch."})

    def __post_init__(self) -> None:
        if self.num_samples < 1 or self.keep_per_problem < 1:
            raise ValueError("num_samples and keep_per_problem must be >= 1")
        if self.keep_per_problem > self.num_samples:
            raise ValueError(
                f"keep_per_problem ({self.keep_per_problem}) cannot exceed num_samples ({self.num_samples})"
            )
        if self.template not in TEMPLATES:
            raise ValueError(f"template must be one of {', '.join(TEMPLATES)}, got {self.template!r}")
        if not 0.0 <= self.majority_threshold < 1.0:
            raise ValueError(f"majority_threshold must be in [0, 1), got {self.majority_threshold}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        check_limit(self.limit)
