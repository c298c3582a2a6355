"""``wizardmath solve``: verified step-by-step solutions from a teacher model, written as SFT data.

For each problem the teacher samples K solutions; those whose final answer is equivalent
(``wizardmath.verify.is_equivalent``) to the gold answer, or, without gold, to the majority
answer, are kept, up to ``keep_per_problem``. Output, in ``DIR``:

- ``sft.jsonl``: TRL prompt/completion rows ``{"id", "problem_id", "problem", "prompt", "completion",
  "answer", "parent_id"?, "round"?, "source"?}``; ``problem`` is the raw problem text (later stages read
  it rather than undo a template), ``prompt = build_prompt(problem, template)`` and the completion
  ends with ``The answer is: X`` (WizardMath format). With ``template: chat`` both are
  conversational (lists of messages), which TRL renders with the model's chat template.
- ``sft_rejected.jsonl``: wrong solutions (``reason: wrong_answer`` / ``no_answer``, or ``too_long``
  without the text: longer than ``max_new_tokens`` allows, from a server that ignored the limit; id
  ``<problem_id>/neg<j>``, with ``problem`` and ``prompt`` too; negatives for the PRM) and one row per
  problem with no verified solution (id = the problem id, ``reason: no_verified_solution``).
- ``solve_stats.json``.

Resumable like ``evolve``: a problem is done once its accepted row or its no-verified-solution row
is written; negatives are written first and skipped by id on a rerun, so nothing is duplicated.

Under ``accelerate launch`` / ``torchrun`` each process solves its share of the problems not yet done
(``wizardmath.distributed``) into ``sft.jsonl.rank<r>`` and ``sft_rejected.jsonl.rank<r>``; rank 0
appends the parts to the two files once every rank is done and writes ``solve_stats.json`` with the
counts of all ranks. A killed launch's parts are merged when it is run again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizardmath import distributed as dist
from wizardmath.backends.base import Backend, Generation, Prompt, SamplingParams, run_coroutine
from wizardmath.backends.openai_backend import MAX_CHARS_PER_TOKEN
from wizardmath.data.records import MathProblem
from wizardmath.data.templates import ANSWER_PREFIX, build_prompt, template_for_backend
from wizardmath.evol import eliminator as E
from wizardmath.evol.config import SolveConfig, build_backend
from wizardmath.jsonl import OWN_FILE, JsonlWriter, iter_jsonl, read_ids, repair_jsonl, write_json
from wizardmath.runstate import check_manifest, merge_counts


def load_input(config: SolveConfig) -> list[MathProblem]:
    from wizardmath.data.loaders import load_problems

    if config.dataset == "symbolic":
        from wizardmath.evol.symbolic import generate_problems

        return generate_problems(config.limit or 100, config.seed)
    if config.dataset in ("jsonl", "local", "json", "parquet") and not config.data_path:
        raise ValueError("solve reads problems from a file: set data_path (--data-path DIR/problems.jsonl)")
    return load_problems(
        config.dataset, config.data_path or None, split=config.split, limit=config.limit or None
    )


def completion_text(reply: str, answer: str, template: str) -> str:
    """The reply in WizardMath form: stripped, ending with "The answer is: X" (added when missing)."""
    text = reply.strip()
    last = text.splitlines()[-1].strip() if text else ""
    if not last.startswith(ANSWER_PREFIX.strip()):
        text = f"{text}\n{ANSWER_PREFIX}{answer}"
    return " " + text if template == "wizardmath" else text


class Solver:
    def __init__(self, config: SolveConfig):
        self.config = config
        self.teacher = build_backend(
            config.backend, config.model, config.base_url, config.backend_args, config.seed
        )
        self.template = template_for_backend(config.template, self.teacher)
        self.out = Path(config.output)
        self.out.mkdir(parents=True, exist_ok=True)
        self.counts: Counter[str] = Counter()
        self.neg_done = read_ids(self.out / "sft_rejected.jsonl")

    def prompt(self, problem: MathProblem) -> Prompt:
        return build_prompt(problem.problem, self.template)

    def handle(
        self, problem: MathProblem, gens: list[Generation], accepted: JsonlWriter, rejected: JsonlWriter
    ) -> None:
        """Judge the K samples of one problem and write its rows (negatives first, then the verdict)."""
        c = self.config
        for g in gens:
            self.counts["prompt_tokens"] += g.prompt_tokens
            self.counts["completion_tokens"] += g.completion_tokens
        if not gens or any(
            g.error for g in gens
        ):  # an outage is no verdict: nothing written, the next run retries
            self.counts["retry_pending"] += 1
            return
        # A reply over the length limit (a server that ignores max_tokens) is no vote and no SFT row:
        # written, it would make sft.jsonl a file the next stage refuses.
        limit = c.max_new_tokens * MAX_CHARS_PER_TOKEN
        too_long = {j for j, g in enumerate(gens) if "over_length" in g.meta or len(g.text) > limit}
        replies = ["" if j in too_long else g.text for j, g in enumerate(gens)]
        vote = E.agreement(replies, gold=problem.answer)
        share_ok = problem.answer is not None or vote.share > c.majority_threshold
        good = vote.members if (vote.answer is not None and share_ok) else []
        extra = {
            k: getattr(problem, k)
            for k in ("parent_id", "round", "source")
            if getattr(problem, k) is not None
        }
        prompt = self.prompt(problem)
        for j, reply in enumerate(replies):
            if j in good or f"{problem.id}/neg{j}" in self.neg_done:
                continue
            reason = "no_answer" if vote.answers[j] is None else "wrong_answer"
            if j in too_long:  # the text is left out: the row stays as short as the others
                reason, reply = "too_long", None
            rejected.write(
                {
                    "id": f"{problem.id}/neg{j}",
                    "problem_id": problem.id,
                    "problem": problem.problem,
                    "prompt": prompt,
                    "completion": reply,
                    "answer": vote.answers[j],
                    "gold": vote.answer,
                    "reason": reason,
                    **extra,
                }
            )
            self.counts[reason] += 1
        if not good:
            rejected.write(
                {
                    "id": problem.id,
                    "problem_id": problem.id,
                    "reason": "no_verified_solution",
                    "detail": (
                        f"answers {vote.answers} vs {'gold' if problem.answer else 'majority'} {vote.answer}"
                    ),
                    **extra,
                }
            )
            self.counts["no_verified_solution"] += 1
            return
        for rank, j in enumerate(good[: c.keep_per_problem]):
            completion = completion_text(replies[j], vote.answer, self.template)
            if self.template == "chat":
                completion = [{"role": "assistant", "content": completion}]
            rid = problem.id if rank == 0 else f"{problem.id}/s{rank}"
            accepted.write(
                {
                    "id": rid,
                    "problem_id": problem.id,
                    "problem": problem.problem,
                    "prompt": prompt,
                    "completion": completion,
                    "answer": vote.answer,
                    **extra,
                }
            )
            self.counts["rows"] += 1
        self.counts["solved"] += 1


def _previous_stats(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _done_ids(out: Path) -> set[str]:
    """Problems with a verdict; rank 0 moved any torn line of the rejections aside before (``_settle``)."""
    done = read_ids(out / "sft.jsonl", key="problem_id")
    path = out / "sft_rejected.jsonl"
    if path.exists():
        done |= {
            r["id"]
            for _, r in iter_jsonl(path, max_bytes=OWN_FILE)
            if r.get("reason") == "no_verified_solution"
        }
    return done


async def _solve_chunks(
    teacher: Backend,
    prompts: list[Prompt],
    problems: list[MathProblem],
    sampling: SamplingParams,
    size: int,
    on_result: Callable[[MathProblem, list[Generation]], None],
) -> None:
    """Chunk by chunk in one event loop; each problem is written as soon as its samples are in (sync
    backends: in order, async ones: as they arrive). The teacher releases its resources on the way out."""
    async with teacher:
        for start in range(0, len(problems), size):
            chunk = problems[start : start + size]
            await teacher.agenerate(
                prompts[start : start + size],
                sampling,
                lambda i, gens, chunk=chunk: on_result(chunk[i], gens),
            )


def solve(config: SolveConfig) -> dict[str, Any]:
    """Solve every problem not yet done; returns the stats also written to ``DIR/solve_stats.json``.

    A problem whose teacher call failed is not written; ``retry_pending`` counts them (exit 3) and
    the next run with the same command retries them. Counts add up across resumed runs."""
    problems = load_input(config)  # bad or empty input fails before the output folder is touched
    if not problems:
        raise ValueError(f"{config.data_path or config.dataset}: no problems to solve (empty input)")
    dist.start()  # under a launch: the process group first (it picks this rank's GPU), then the teacher
    with dist.main_lock(config.output, "solve"):
        return _solve(config, problems)


RECORD_FILES = ("sft.jsonl", "sft_rejected.jsonl")


def _settle(config: SolveConfig, out: Path) -> None:
    """Rank 0, before any rank reads what is done: a killed launch's parts merged, the settings checked
    (``--overwrite`` clears the outputs), a torn line of the rejections moved aside."""
    for name in RECORD_FILES:
        dist.merge_parts(out / name)
    check_manifest(
        out / "solve.run.json",
        config.manifest(config.data_path),
        [out / n for n in (*RECORD_FILES, "solve_stats.json")],
        config.overwrite,
        config.resume,
    )
    repair_jsonl(out / "sft_rejected.jsonl")


def _solve(config: SolveConfig, problems: list[MathProblem]) -> dict[str, Any]:
    from tqdm.auto import tqdm

    started = time.time()
    out = Path(config.output)
    if dist.is_main_process():
        _settle(config, out)
    dist.barrier()
    if config.require_gold:
        problems = [p for p in problems if p.answer is not None]
    solver = Solver(config)
    done = _done_ids(solver.out)
    pending = [p for p in problems if p.id not in done]
    todo = dist.shard(pending)  # this rank's share (all of them in a plain run)
    sampling = SamplingParams(
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        n=config.num_samples,
        seed=config.seed,
    )
    bar = tqdm(
        total=len(problems),
        initial=len(problems) - len(pending),
        desc="solve",
        unit="problem",
        disable=not (config.progress and dist.is_main_process()),
    )
    with (
        JsonlWriter(dist.part_path(solver.out / "sft.jsonl")) as accepted,
        JsonlWriter(dist.part_path(solver.out / "sft_rejected.jsonl")) as rejected,
    ):

        def on_result(problem: MathProblem, gens: list[Generation]) -> None:
            solver.handle(problem, gens, accepted, rejected)
            bar.update(1)

        run_coroutine(
            _solve_chunks(
                solver.teacher, [solver.prompt(p) for p in todo], todo, sampling, config.chunk_size, on_result
            )
        )
    bar.close()
    solver.teacher.close()
    counts = Counter(dist.sum_counts(dict(solver.counts)))  # every rank's counts
    dist.merge_all([out / name for name in RECORD_FILES])
    if not dist.is_main_process():
        return dist.share(None)  # rank 0's stats
    rows = len(read_ids(solver.out / "sft.jsonl", key="problem_id"))
    retry = counts.pop("retry_pending", 0)
    before = _previous_stats(solver.out / "solve_stats.json")
    stats = {
        "problems": len(problems),
        "solved_this_run": counts["solved"],
        "problems_with_rows": rows,
        "yield": round(rows / max(1, len(problems)), 4),
        "retry_pending": retry,
        "counts": merge_counts(before.get("counts", {}), dict(counts)),
        "runs": before.get("runs", 0) + 1,
        "wall_seconds": round(before.get("wall_seconds", 0.0) + time.time() - started, 2),
    }
    write_json(solver.out / "solve_stats.json", stats)
    print(
        f"solve: {rows} of {len(problems)} problems have a verified solution "
        f"({counts['solved']} this run): {solver.out / 'sft.jsonl'} "
        "(sft_rejected.jsonl and solve_stats.json beside it)"
    )
    return dist.share(stats)
