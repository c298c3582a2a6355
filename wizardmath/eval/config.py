"""``EvalConfig``: every knob of ``wizardmath eval``, with its default written once."""

from __future__ import annotations

from dataclasses import dataclass, field

from wizardmath.args import BackendArguments, ReportArguments, check_limit, default_output, report_targets
from wizardmath.data import TEMPLATES
from wizardmath.eval.grading import ANSWER_FORMATS

EVAL_BACKENDS = ("auto", "transformers", "vllm", "openai")
RERANKERS = ("prm", "checker")


@dataclass
class EvalConfig(BackendArguments, ReportArguments):
    """Evaluate a model (local, served, or completions already written) on a math benchmark."""

    model: str | None = field(
        default=None,
        metadata={"help": "Checkpoint folder or hub name; for --base-url, the served model name."},
    )
    dataset: str = field(
        default="gsm8k", metadata={"help": "gsm8k, math, math500, jsonl (a local file) or a hub name."}
    )
    data_path: str | None = field(
        default=None,
        metadata={"help": "Local copy of the data set (JSONL/JSON/Parquet); without it, the hub copy."},
    )
    split: str = field(default="test", metadata={"help": "Split to evaluate."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N problems."})
    field_map: str | None = field(
        default=None, metadata={"help": "Column names for a jsonl file: 'problem=question,answer=final'."}
    )
    template: str = field(
        default="auto",
        metadata={
            "help": "Prompt template: auto (chat when the model has a chat template), wizardmath, chat, raw.",
            "choices": list(TEMPLATES),
        },
    )
    num_samples: int = field(
        default=1, metadata={"help": "Samples per problem (K); K > 1 reports pass@k and maj@K."}
    )
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; K > 1 needs > 0 (0.7 is common)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold."})
    max_new_tokens: int = field(default=512, metadata={"help": "Most tokens generated per completion."})
    stop_at_answer: bool = field(
        default=True, metadata={"help": "Stop each completion at the end of its 'The answer is: X' line."}
    )
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    backend: str = field(
        default="auto",
        metadata={
            "help": "auto (openai when --base-url is set, else transformers), transformers, vllm or openai.",
            "choices": list(EVAL_BACKENDS),
        },
    )
    api_key: str | None = field(
        default=None, metadata={"help": "API key for --base-url (default: $OPENAI_API_KEY)."}
    )
    concurrency: int = field(default=32, metadata={"help": "Requests in flight at once (openai backend)."})
    batch_size: int = field(
        default=16, metadata={"help": "Prompts per generate call (transformers backend)."}
    )
    device: str | None = field(
        default=None, metadata={"help": "Device for the transformers backend (default: cuda if available)."}
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "auto (bf16 where supported, fp32 on CPU), bfloat16, float16 or float32."},
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs per model (vllm backend)."})
    completions: str | None = field(
        default=None,
        metadata={
            "help": (
                "Score these completions ({'id', 'completion'} or {'id', 'completions': [...]} lines) "
                "instead of generating."
            )
        },
    )
    answer_format: str = field(
        default="any",
        metadata={
            "help": (
                "Where the final answer is read: any, wizardmath ('The answer is: X'), boxed "
                "or gsm8k ('#### X')."
            ),
            "choices": list(ANSWER_FORMATS),
        },
    )
    rerank: str | None = field(
        default=None,
        metadata={
            "help": (
                "Rerank the K samples by step scores: prm (a process reward model) or checker (a step "
                "checker from train-checker); both need --prm PATH."
            )
        },
    )
    prm: str | None = field(
        default=None, metadata={"help": "The step scorer's checkpoint for --rerank (a PRM or a checker)."}
    )
    prm_aggregate: str = field(
        default="min",
        metadata={"help": "How a PRM's step scores make a solution score: min, prod, last or mean."},
    )
    output: str = field(
        default=default_output("eval"),
        metadata={"help": "Folder for <dataset>.jsonl and <dataset>.summary.json."},
    )
    name: str | None = field(
        default=None, metadata={"help": "Base name of the output files (default: the data set name)."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Start over instead of resuming from the results already in --output."},
    )
    chunk_size: int = field(
        default=0, metadata={"help": "Problems per generate call, written after each; 0 = auto."}
    )
    verify_workers: int = field(default=2, metadata={"help": "Processes for symbolic answer checks."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.num_samples > 1 and self.temperature <= 0 and not self.completions:
            raise ValueError(
                "num_samples > 1 with temperature 0 gives K identical samples; set --temperature (e.g. 0.7)"
            )
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template '{self.template}'; valid: {', '.join(TEMPLATES)}")
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(
                f"unknown answer_format '{self.answer_format}'; valid: {', '.join(ANSWER_FORMATS)}"
            )
        if self.backend not in EVAL_BACKENDS:
            raise ValueError(f"unknown backend '{self.backend}'; valid: {', '.join(EVAL_BACKENDS)}")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs --base-url (e.g. http://localhost:8000/v1)")
        if self.base_url and self.backend in ("transformers", "vllm"):
            raise ValueError(
                f"--base-url is for the openai backend; backend '{self.backend}' runs the model locally"
            )
        if self.rerank is not None and self.rerank not in RERANKERS:
            raise ValueError(f"unknown rerank '{self.rerank}'; valid: {', '.join(RERANKERS)}")
        if self.rerank and not self.prm:
            raise ValueError(f"--rerank {self.rerank} needs --prm PATH (the trained step scorer)")
        for name in ("batch_size", "concurrency", "max_new_tokens", "tensor_parallel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_limit(self.limit)
        if set(report_targets(self.report_to)) - {"wandb"}:
            raise ValueError(f"eval reports to wandb only (or none), got report_to={self.report_to!r}")

    @property
    def backend_name(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "openai" if self.base_url else "transformers"

    def parsed_field_map(self) -> dict[str, str]:
        from wizardmath.data.loaders import parse_field_map

        return parse_field_map(self.field_map)

    def run_settings(self) -> dict[str, object]:
        """What makes results comparable: a resumed run must match these, and the summary records them."""
        return {
            "model": self.model,
            "backend": "completions" if self.completions else self.backend_name,
            "base_url": self.base_url,
            "dataset": self.dataset,
            "data_path": self.data_path,
            "split": self.split,
            "limit": self.limit,
            "template": self.template,
            "num_samples": self.num_samples,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "stop_at_answer": self.stop_at_answer,
            "seed": self.seed,
            "completions": self.completions,
            "answer_format": self.answer_format,
            "rerank": self.rerank,
            "prm": self.prm,
            "prm_aggregate": self.prm_aggregate if self.rerank else None,
        }
