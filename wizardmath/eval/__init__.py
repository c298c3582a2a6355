"""Benchmark evaluation: GSM8k, MATH, MATH-500 or any JSONL, from a model, a server or completions.

CLI: ``wizardmath eval --model DIR --dataset gsm8k --output DIR`` (see ``EvalConfig`` for every flag).
Python: ``evaluate(config) -> summary`` and ``evaluate_problems(problems, backend, config)``.
Pure helpers: ``pass_at_k(n, c, k)``, ``majority_vote(answers)``, ``summarize(records, k)``.
"""

from wizardmath.eval.config import EvalConfig
from wizardmath.eval.grading import ANSWER_FORMATS, Scorer, extract_in_format, grade_chunk
from wizardmath.eval.inputs import read_completions
from wizardmath.eval.metrics import majority_vote, pass_at_k, summarize, vote_clusters
from wizardmath.eval.report import print_summary
from wizardmath.eval.runner import evaluate, evaluate_problems

__all__ = [
    "ANSWER_FORMATS",
    "EvalConfig",
    "Scorer",
    "evaluate",
    "evaluate_problems",
    "extract_in_format",
    "grade_chunk",
    "majority_vote",
    "pass_at_k",
    "print_summary",
    "read_completions",
    "summarize",
    "vote_clusters",
]
