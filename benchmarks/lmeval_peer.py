"""lm-evaluation-harness's ``gsm8k`` task as the peer of ``wizardmath eval``, run offline.

The installed harness's own ``tasks/gsm8k/gsm8k.yaml`` is copied with only the data source changed
(``dataset_path: json`` over the local train and test files, so the few-shot examples still come from
the train split) and ``max_gen_toks`` set to the budget both arms share. Everything else is the task
as a user gets it: 5 few-shot examples in "Question: ... Answer:" form, greedy, stop at "Question:",
graded by the "strict-match" (``#### X``) and "flexible-extract" (last number) filters. The model is
lm-eval's ``HFLM`` around the same in-memory model the other arm uses.

Used by ``benchmarks/eval_vs_lmeval.py``; needs ``pip install lm-eval`` (the ``bench`` extra).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASK = "gsm8k_local"
FILTERS = ("strict-match", "flexible-extract")
FEWSHOT_SEED = 1234  # lm-eval's simple_evaluate default, so the few-shot examples are the usual ones


@dataclass
class PeerSample:
    """One problem as lm-eval saw and graded it."""

    doc_id: int
    context: str
    text: str
    correct: dict[str, bool] = field(default_factory=dict)  # filter name -> exact match
    answer: dict[str, str] = field(default_factory=dict)  # filter name -> the extracted string


@dataclass
class PeerRun:
    seconds: float
    samples: list[PeerSample]
    accuracy: dict[str, float]
    max_length: int  # the model's context lm-eval assumes (prompts are left-truncated to fit)


def task_config(
    source: dict[str, Any],
    test_path: str,
    train_path: str,
    max_gen_toks: int,
    num_fewshot: int,
    doc_to_text: str | None = None,
) -> dict[str, Any]:
    """The harness's gsm8k task config ``source``, reading local JSONL files instead of the hub;
    ``doc_to_text`` (a Jinja prompt over ``question``) replaces its "Question: ... Answer:" prompt."""
    config = dict(source)
    if doc_to_text is not None:
        config["doc_to_text"] = doc_to_text
    config.pop("tag", None)  # the copy must not join the "math_word_problems" group of the original
    config.update(
        task=TASK,
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs={"data_files": {"train": train_path, "test": test_path}},
        num_fewshot=num_fewshot,
    )
    config["generation_kwargs"] = {**source.get("generation_kwargs", {}), "max_gen_toks": max_gen_toks}
    return config


def write_task(
    folder: Path,
    test_path: str,
    train_path: str,
    max_gen_toks: int,
    num_fewshot: int,
    doc_to_text: str | None = None,
) -> Path:
    """Write the local task YAML into ``folder`` (an ``include_path`` for ``TaskManager``)."""
    import lm_eval
    import yaml

    source = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    source_config = yaml.safe_load(source.read_text())
    config = task_config(source_config, test_path, train_path, max_gen_toks, num_fewshot, doc_to_text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TASK}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def collect_samples(samples: list[dict[str, Any]]) -> list[PeerSample]:
    """lm-eval's logged samples (one per problem and filter) folded into one ``PeerSample`` per problem."""
    by_doc: dict[int, PeerSample] = {}
    for s in sorted(samples, key=lambda s: s["doc_id"]):
        peer = by_doc.get(s["doc_id"])
        if peer is None:
            peer = by_doc[s["doc_id"]] = PeerSample(s["doc_id"], s["arguments"][0][0], s["resps"][0][0])
        peer.correct[s["filter"]] = bool(s["exact_match"])
        peer.answer[s["filter"]] = str(s["filtered_resps"][0])
    return list(by_doc.values())


def run_lmeval(
    model: Any,
    tokenizer: Any,
    task_folder: Path,
    limit: int,
    batch_size: int,
    device: str = "cpu",
) -> PeerRun:
    """lm-eval's ``evaluate`` on the first ``limit`` test problems; only that call is timed (the task and
    its data are built before, as the model is)."""
    import random

    import numpy as np
    import torch
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, device=device, batch_size=batch_size)
    task_dict = TaskManager(include_path=str(task_folder), include_defaults=False).load([TASK])
    for task in task_dict["tasks"].values():
        task.set_fewshot_seed(seed=FEWSHOT_SEED)
    random.seed(0)  # simple_evaluate's seeds
    np.random.seed(1234)
    torch.manual_seed(1234)
    start = time.perf_counter()
    out = evaluator.evaluate(lm=lm, task_dict=task_dict, limit=limit, log_samples=True, verbosity="WARNING")
    seconds = time.perf_counter() - start
    metrics = out["results"][TASK]
    return PeerRun(
        seconds=seconds,
        samples=collect_samples(out["samples"][TASK]),
        accuracy={f: float(metrics[f"exact_match,{f}"]) for f in FILTERS},
        max_length=int(lm.max_length),
    )
