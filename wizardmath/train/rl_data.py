"""The prompt data and held-out set that both RL trainers read (``PPOConfig`` and ``GRPOConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wizardmath.data.records import MathProblem


@dataclass
class ProblemArguments:
    """On which problems the SFT model (``ModelArguments.model``) improves, and where its greedy accuracy
    is measured."""

    dataset: str = field(
        default="jsonl", metadata={"help": "Prompt source: jsonl (problem/answer/id lines), gsm8k, math, ..."}
    )
    data_path: str | None = field(
        default=None, metadata={"help": "Problems JSONL (or a local copy of the data set)."}
    )
    split: str = field(default="train", metadata={"help": "Split for named data sets."})
    limit: int | None = field(default=None, metadata={"help": "Use at most this many training problems."})
    eval_data_path: str | None = field(
        default=None, metadata={"help": "Held-out problems JSONL: greedy accuracy before and after training."}
    )
    eval_limit: int = field(default=200, metadata={"help": "Held-out problems evaluated."})
    template: str = field(
        default="auto",
        metadata={
            "help": "Prompt template: auto (chat when the model has a chat template), wizardmath, chat, raw."
        },
    )

    def train_problems(self) -> list[MathProblem]:
        from wizardmath.data import load_problems

        problems = load_problems(self.dataset, self.data_path, split=self.split, limit=self.limit)
        if not problems:
            raise ValueError(f"no problems in {self.data_path or self.dataset}")
        return problems

    def held_out_problems(self) -> list[MathProblem]:
        from wizardmath.data import load_problems

        if not self.eval_data_path:
            return []
        return load_problems("jsonl", self.eval_data_path, limit=self.eval_limit)
