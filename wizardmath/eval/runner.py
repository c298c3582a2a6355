"""The evaluation loop: load problems, generate (or read) completions, grade, write, summarise.

Results go to ``DIR/<name>.jsonl`` one line per problem as each chunk finishes (``JsonlWriter``:
a SIGKILL loses at most the chunk in flight); a rerun skips ids already written. The summary is
then computed from that file alone, so an interrupted-and-resumed run reports what a clean run
does. ``DIR/<name>.run.json`` records the settings, and a rerun with different settings is refused
instead of silently mixing two runs' results.

Under ``accelerate launch`` / ``torchrun`` each process loads the model on its own device and takes
its share of the problems not yet done (``wizardmath.distributed``): it writes them to
``<name>.jsonl.rank<r>``, and rank 0 appends the parts to ``<name>.jsonl`` once all are done, then
writes the summary, which every rank returns. A killed launch's parts are merged when it is run again.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wizardmath import distributed as dist
from wizardmath.backends.base import Backend, Generation, Prompt, SamplingParams
from wizardmath.data import MathProblem
from wizardmath.data.templates import build_prompt as render_prompt
from wizardmath.data.templates import resolve_template, template_for_model
from wizardmath.eval.config import EvalConfig
from wizardmath.eval.grading import Scorer, grade_chunk
from wizardmath.eval.inputs import check_gold, load_eval_problems, read_completions
from wizardmath.eval.metrics import PAPER_RESULTS, summarize
from wizardmath.jsonl import OWN_FILE, JsonlWriter, iter_jsonl, read_ids, repair_jsonl, write_json

Generate = Callable[[list[MathProblem]], list[list[Generation]]]
# Settings a resumed run may change without mixing incomparable results.
RESUMABLE_CHANGES = ("limit", "base_url")


def output_paths(config: EvalConfig) -> dict[str, Path]:
    """``jsonl``, ``summary`` and ``run`` files under ``config.output``."""
    name = config.name
    if not name:
        if config.dataset.lower() in ("jsonl", "local", "json", "parquet") and config.data_path:
            name = Path(config.data_path).stem
        else:
            name = Path(config.dataset).name
    out = Path(config.output)
    return {
        "jsonl": out / f"{name}.jsonl",
        "summary": out / f"{name}.summary.json",
        "run": out / f"{name}.run.json",
    }


def resolve_eval_template(config: EvalConfig, backend: Backend | None) -> str:
    """``auto`` made concrete: by the tokenizer of a backend already loaded, else by the model's files
    (a model served over HTTP gets ``chat``: the server applies its own template)."""
    if config.template != "auto":
        return config.template
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        return resolve_template("auto", tokenizer)
    if config.completions:
        return "wizardmath"
    return template_for_model("auto", config.model, served=config.backend_name == "openai")


def build_backend(config: EvalConfig) -> Backend:
    """The eval backend: ``config.build_backend`` with each backend's eval settings."""
    name = config.backend_name
    if name != "openai" and not config.model:
        raise ValueError(
            "set --model (a checkpoint folder or hub name), "
            "or --completions FILE to score existing completions"
        )
    if name == "transformers":
        return config.build_backend(
            batch_size=config.batch_size,
            device=config.device,
            dtype=config.dtype,
            stop_at_answer=config.stop_at_answer,
        )
    if name == "vllm":
        return config.build_backend(
            dtype=config.dtype,
            seed=config.seed,
            tensor_parallel_size=config.tensor_parallel_size,
            stop_at_answer=config.stop_at_answer,
        )
    return config.build_backend(
        model=config.model or "default",
        api_key=config.api_key,
        concurrency=config.concurrency,
        chat=config.template == "chat",
    )


def step_scorer(name: str, target: str) -> Callable[[EvalConfig], Scorer]:
    """Best-of-K by a step scorer (``module:Class`` with ``from_pretrained`` and ``score_solutions``):
    each completion's step scores, aggregated (``min``). The PRM and the step checker share this."""

    def build(config: EvalConfig) -> Scorer:
        module, cls = target.split(":")
        try:
            scorer_cls = getattr(importlib.import_module(module), cls)
        except ImportError as err:
            message = f"--rerank {name} needs the reward_models package of this repo ({err})"
            raise ImportError(message) from err
        model = scorer_cls.from_pretrained(config.prm, device=config.device)

        def score(problem: MathProblem, texts: list[str]) -> list[float]:
            problems = [problem.problem] * len(texts)
            return model.score_solutions(problems, texts, aggregate=config.prm_aggregate)

        return score

    return build


# name -> builder of a (problem, completions) -> scores callable; names listed in EvalConfig.
SCORERS: dict[str, Callable[[EvalConfig], Scorer]] = {
    "prm": step_scorer("prm", "reward_models.prm:ProcessRewardModel"),
    "checker": step_scorer("checker", "reward_models.step_checker:StepChecker"),
}


def build_scorer(config: EvalConfig) -> Scorer | None:
    """The reranking scorer named by ``config.rerank``, or None."""
    if config.rerank is None:
        return None
    return SCORERS[config.rerank](config)


def build_prompt(problem: MathProblem, template: str) -> Prompt:
    """The prompt sent for ``problem`` (see ``wizardmath.data.templates.build_prompt``)."""
    return render_prompt(problem.problem, template)


def backend_generate(backend: Backend, config: EvalConfig) -> Generate:
    from wizardmath.backends.transformers_backend import trim_at_answer_line

    sampling = SamplingParams(
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        n=config.num_samples,
        seed=config.seed,
    )

    def generate(problems: list[MathProblem]) -> list[list[Generation]]:
        results = backend.generate([build_prompt(p, config.template) for p in problems], sampling)
        if config.stop_at_answer:  # servers cannot stop at a line end; cut the text the same way
            for gens in results:
                for gen in gens:
                    gen.text = trim_at_answer_line(gen.text)
        return results

    return generate


def completions_generate(
    config: EvalConfig, problems: list[MathProblem]
) -> tuple[list[MathProblem], Generate]:
    """The problems that have completions in ``config.completions`` (the first ``limit``), and a
    ``Generate`` that hands those completions out: scoring existing completions loads no model."""
    texts = read_completions(config.completions, problems)
    chosen = [p for p in problems if p.id in texts][: config.limit]

    def generate(part: list[MathProblem]) -> list[list[Generation]]:
        return [[Generation(text=t) for t in texts[p.id]] for p in part]

    return chosen, generate


def auto_chunk(config: EvalConfig) -> int:
    if config.chunk_size > 0:
        return config.chunk_size
    if config.completions:
        return 256
    # Local backends: one generate batch per chunk (problems arrive sorted by length), so results
    # reach the file, and the progress bar, after every batch.
    return {"vllm": 1024, "openai": 4 * config.concurrency}.get(config.backend_name, config.batch_size)


def prepare_output(config: EvalConfig, paths: dict[str, Path]) -> set[str]:
    """Ids already done; refuses to mix runs whose settings differ (``--overwrite`` starts over)."""
    if config.overwrite:
        for path in [*paths.values(), paths["jsonl"].with_name(paths["jsonl"].name + ".torn")]:
            path.unlink(missing_ok=True)
    settings = {k: v for k, v in config.run_settings().items() if k not in RESUMABLE_CHANGES}
    has_output = paths["jsonl"].exists() and paths["jsonl"].stat().st_size > 0
    if paths["run"].exists() and has_output:  # no results yet (a run that failed early): nothing to mix
        old = json.loads(paths["run"].read_text(encoding="utf-8"))
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in diff)
            raise ValueError(
                f"{paths['jsonl']} holds results of a run with other settings ({changes}); "
                "use another --output or --name, or --overwrite to start over"
            )
    write_json(paths["run"], settings)
    repair_jsonl(paths["jsonl"])  # a torn line anywhere goes aside (FILE.torn) and its problem is redone
    return read_ids(paths["jsonl"])


def _progress(config: EvalConfig, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="problem",
        desc="eval",
        disable=not (config.progress and dist.is_main_process()),
        dynamic_ncols=True,
    )


def run_chunks(
    pending: list[MathProblem],
    generate: Generate,
    config: EvalConfig,
    paths: dict[str, Path],
    scorer: Scorer | None,
    total: int,
    logger: Any = None,
) -> int:
    """Generate, grade and append ``pending`` chunk by chunk; returns how many problems failed
    (a backend error on any sample: left unwritten so the next run retries them)."""
    failed = 0
    done, right = total - len(pending), 0.0
    chunk = auto_chunk(config)
    with JsonlWriter(paths["jsonl"]) as writer, _progress(config, total, done) as bar:
        for start in range(0, len(pending), chunk):
            part = pending[start : start + chunk]
            results = generate(part)
            ok = [
                (p, gens)
                for p, gens in zip(part, results, strict=True)
                if gens and not any(g.error for g in gens)
            ]
            failed += len(part) - len(ok)
            records = (
                grade_chunk(
                    [p for p, _ in ok],
                    [g for _, g in ok],
                    config.answer_format,
                    config.verify_workers,
                    scorer,
                )
                if ok
                else []
            )
            writer.write_many(records)
            right += sum(sum(r["correct"]) / len(r["correct"]) for r in records)
            done_now = start + len(part)
            bar.update(len(part))
            bar.set_postfix(acc=f"{right / max(1, done_now - failed):.3f}", failed=failed)
            if logger is not None:
                logger.log(
                    {"eval/running_accuracy": right / max(1, done_now - failed), "eval/done": done + done_now}
                )
    return failed


def evaluate(
    config: EvalConfig,
    problems: Sequence[MathProblem] | None = None,
    backend: Backend | None = None,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Evaluate and return the summary (also written to ``DIR/<name>.summary.json``).

    The CLI calls ``evaluate(config)``. Python callers (the pipeline) may pass ``problems`` (e.g. a
    held-out symbolic set in memory), an already built ``backend`` (a model in memory) and a
    ``scorer`` for reranking; anything not passed is built from ``config``.
    """

    started = time.perf_counter()
    dist.start()  # under a launch: the process group first (it picks this rank's GPU), then the model
    config.template = resolve_eval_template(config, backend)
    where = config.data_path or config.dataset
    if problems is None:
        # Completions are checked against the whole data set, then the first `limit` are scored.
        problems = load_eval_problems(config, None if config.completions else config.limit)
    problems = list(problems)
    check_gold(problems, where)
    if config.completions:
        problems, generate = completions_generate(config, problems)
    else:
        problems = problems[: config.limit]
        generate = backend_generate(backend or build_backend(config), config)
        if config.backend_name in ("transformers", "vllm"):  # similar lengths batch together
            problems.sort(key=lambda p: -len(p.problem))
    scorer = scorer or build_scorer(config)
    paths = output_paths(config)
    # per results file: two benchmarks may share a folder
    with dist.main_lock(paths["jsonl"], "eval", folder=False):
        return _evaluate(config, problems, generate, scorer, paths, started)


def _evaluate(
    config: EvalConfig,
    problems: list[MathProblem],
    generate: Generate,
    scorer: Scorer | None,
    paths: dict[str, Path],
    started: float,
) -> dict[str, Any]:
    from wizardmath.eval.report import open_logger, print_summary

    main = dist.is_main_process()
    if main:
        dist.merge_parts(paths["jsonl"])  # results a killed launch's ranks wrote
        prepare_output(config, paths)
    dist.barrier()  # every rank reads the done ids rank 0 settled
    done = read_ids(paths["jsonl"])
    wanted = {p.id for p in problems}
    pending = [p for p in problems if p.id not in done]
    logger = open_logger(config, paths) if main else None
    gen_started = time.perf_counter()
    mine, part = dist.shard(pending), {**paths, "jsonl": dist.part_path(paths["jsonl"])}
    total = len(problems) - len(pending) + len(mine)  # this rank's progress: the done ones and its share
    failed = run_chunks(mine, generate, config, part, scorer, total, logger)
    failed = sum(dist.gather(failed))
    gen_seconds = time.perf_counter() - gen_started
    dist.merge_all([paths["jsonl"]])
    if not main:
        return dist.share(None)  # rank 0's summary

    by_id: dict[str, dict[str, Any]] = {}
    for _, record in iter_jsonl(paths["jsonl"], max_bytes=OWN_FILE):
        if record["id"] in wanted:
            by_id.setdefault(record["id"], record)  # first wins, should a file ever hold a repeat
    records = list(by_id.values())
    summary = summarize(records, max((len(r["correct"]) for r in records), default=1))
    summary["missing"] = len(wanted) - summary["n"]
    summary["retry_pending"] = summary["missing"]  # failed on the backend: the next run retries them (exit 3)
    summary["settings"] = config.run_settings()
    key = "math" if config.dataset.lower() in ("math", "math500") else config.dataset.lower()
    if key in PAPER_RESULTS:
        summary["paper_results"] = PAPER_RESULTS[key]
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    summary["problems_per_s"] = round(len(pending) / gen_seconds, 3) if pending and gen_seconds > 0 else None
    summary["files"] = {"results": str(paths["jsonl"]), "summary": str(paths["summary"])}
    write_json(paths["summary"], summary)
    print_summary(summary, failed=failed)
    if logger is not None:
        logger.finish(summary)
    return dist.share(summary)


def evaluate_problems(
    problems: Sequence[MathProblem], backend: Backend, config: EvalConfig, scorer: Scorer | None = None
) -> dict[str, Any]:
    """``evaluate`` on problems in memory with a backend in memory (the pipeline's held-out check)."""
    return evaluate(config, problems=problems, backend=backend, scorer=scorer)
