"""GSM8k evaluation: ``wizardmath eval`` against lm-evaluation-harness's ``gsm8k`` task, same model.

Both arms get the same in-memory model (same dtype, same torch threads), the first ``--problems``
GSM8k test problems from the local copy, greedy decoding and the same ``--max-new-tokens``, at the same
``--batch-size``. Each arm keeps its own habits, since those are what a user gets:

- ours: the model's prompt template (``auto``: the chat template when the tokenizer has one, else
  WizardMath's), problems batched by prompt length, each row stopped at the end of its answer line,
  answers graded by ``wizardmath.verify``;
- lm-eval (``benchmarks/lmeval_peer.py``): its 5-shot "Question: ... Answer:" prompt, stop at
  "Question:", graded by "strict-match" (``#### X``) and "flexible-extract" (the last number).

Only the evaluation call of each arm is timed (model, tokenizer, task and data built before), one run
each. Printed: problems/s of both and the ratio, accuracy of both, lm-eval's generations regraded by
our verifier, and for every problem where the arms disagree a cause (``classify``)::

    python benchmarks/eval_vs_lmeval.py --model runs/tiny/sft --problems 64
    python benchmarks/eval_vs_lmeval.py --model runs/smol/base --problems 32 --json /tmp/smol.json
    python benchmarks/eval_vs_lmeval.py --model runs/tiny/sft --problems 64 --symbolic

``--peer-prompt ours`` gives lm-eval our prompt instead (a text template such as WizardMath's, 0-shot,
its stop strings and grading unchanged): the harness's speed and grading at the prompt ours uses.
``--symbolic`` swaps GSM8k for the tiny world's held-out problems written in GSM8k's format (worked
solution, then ``#### X``; the pipeline's test seed, few-shot pool from another seed): a model that
scores on them (the tiny SFT model) shows where the two graders and prompts part ways, which a model
at 0% on GSM8k cannot.

Needs ``pip install lm-eval`` (the ``bench`` extra); runs offline (HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lmeval_peer import FILTERS, PeerRun, run_lmeval, write_task  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
# Why the arms disagree on a problem, in the order ``classify`` tests them.
EXTRACTION = "answer extraction"  # the same lm-eval text, graded otherwise by our verifier
TRUNCATION = "truncation"  # the wrong arm ran out of tokens, or lm-eval cut the prompt's left side
STOP = "stop sequence"  # lm-eval's generation ended (a stop string) before stating an answer
PROMPT = "prompt format"  # both texts graded alike: the two prompts led to different answers
CAUSES = (EXTRACTION, TRUNCATION, STOP, PROMPT)


@dataclass
class Row:
    """One problem in both arms."""

    index: int
    ours_correct: bool
    ours_answer: str | None
    ours_finish: str | None
    ours_tokens: int
    ours_prompt_tokens: int
    peer_correct: dict[str, bool]
    peer_answer: dict[str, str]
    peer_by_verifier: bool  # lm-eval's text graded by wizardmath.verify
    peer_stated_answer: bool  # its text has "#### X", "The answer is X" or \boxed{X}
    peer_tokens: int
    peer_prompt_tokens: int  # after lm-eval's left truncation
    peer_prompt_cut: bool


def classify(row: Row, filter_name: str, budget: int) -> str | None:
    """None when the arms agree on ``row``; else the first cause in ``CAUSES`` that explains it.

    Extraction first: if our verifier grades lm-eval's own text the way our arm came out, the
    generations are not the difference. Then the wrong arm's text is looked at: cut at the budget (or
    its prompt cut to fit the context) is truncation; lm-eval's text ending early with no answer
    stated is its stop sequence; what remains is two prompts leading the model to two answers."""
    peer = row.peer_correct[filter_name]
    if peer == row.ours_correct:
        return None
    if row.peer_by_verifier != peer:
        return EXTRACTION
    if not row.ours_correct:
        return TRUNCATION if row.ours_finish == "length" else PROMPT
    if row.peer_prompt_cut or row.peer_tokens >= budget:
        return TRUNCATION
    return STOP if not row.peer_stated_answer else PROMPT


def agreement(rows: list[Row], filter_name: str, budget: int) -> dict[str, int]:
    """Both right, both wrong, only one arm right, and the disagreements counted by cause."""
    out = {"both right": 0, "both wrong": 0, "ours only": 0, "lm-eval only": 0, **dict.fromkeys(CAUSES, 0)}
    for row in rows:
        peer = row.peer_correct[filter_name]
        key = {(True, True): "both right", (False, False): "both wrong", (True, False): "ours only"}
        out[key.get((row.ours_correct, peer), "lm-eval only")] += 1
        cause = classify(row, filter_name, budget)
        if cause is not None:
            out[cause] += 1
    return out


def stated_answer(text: str) -> bool:
    from wizardmath.eval.grading import extract_in_format

    return any(extract_in_format(text, fmt) is not None for fmt in ("gsm8k", "wizardmath", "boxed"))


def gsm8k_answer(solution: str, answer: str) -> str:
    """A WizardMath-format solution ("... The answer is: X") in GSM8k's answer format ("...\n#### X")."""
    steps = [line for line in solution.strip().splitlines() if not line.lower().startswith("the answer is")]
    return "\n".join([*steps, f"#### {answer}"])


def symbolic_gsm8k(folder: Path, n: int) -> tuple[str, str]:
    """Test and few-shot files of symbolic problems in GSM8k's ``question``/``answer`` format: the test
    set the tiny pipeline holds out (seed 1000003, 1-4 operations), the pool from seed 1 without them."""
    from wizardmath.evol.symbolic import generate_problems
    from wizardmath.jsonl import write_jsonl

    test = generate_problems(n, seed=1000003, min_ops=1, max_ops=4, prefix="test")
    pool = generate_problems(200, seed=1, min_ops=1, max_ops=4, exclude={p.problem for p in test})
    paths = []
    for name, problems in (("test", test), ("train", pool)):
        rows = [{"question": p.problem, "answer": gsm8k_answer(p.solution or "", p.answer)} for p in problems]
        paths.append(str(folder / f"{name}.jsonl"))
        write_jsonl(paths[-1], rows)
    return paths[0], paths[1]


def run_ours(args: argparse.Namespace, backend: Any, out: Path) -> tuple[float, list[dict[str, Any]]]:
    """``wizardmath.eval.evaluate`` with the backend already built; seconds and the result records."""
    from wizardmath.eval import EvalConfig, evaluate
    from wizardmath.jsonl import read_jsonl

    config = EvalConfig(
        model=args.model,
        dataset="gsm8k",
        data_path=args.data_path,
        limit=args.problems,
        template=args.template,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        device=args.device,
        output=str(out),
        overwrite=True,
        progress=False,
        report_to="none",
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its summary table: the figures are printed below
        summary = evaluate(config, backend=backend)
    seconds = time.perf_counter() - start
    records = read_jsonl(summary["files"]["results"])
    return seconds, sorted(records, key=lambda r: int(r["id"].rsplit("/", 1)[1]))


def build_rows(
    records: list[dict[str, Any]], peer: PeerRun, backend: Any, template: str, budget: int, workers: int = 2
) -> list[Row]:
    """Pair our records with lm-eval's samples (both in test-file order) and regrade lm-eval's texts.
    lm-eval keeps ``budget`` tokens of the context free for the generation and cuts the prompt's left
    side to fit the rest, so a prompt longer than ``max_length - budget`` was truncated."""
    from wizardmath.data import MathProblem
    from wizardmath.data.templates import build_prompt
    from wizardmath.eval.grading import grade_chunk

    problems = [MathProblem(id=r["id"], problem=r["problem"], answer=r["gold"]) for r in records]
    tokenizer = backend.tokenizer
    regraded = grade_chunk(problems, [[s.text] for s in peer.samples], "any", workers)
    context = peer.max_length - budget
    rows = []
    for index, (mine, theirs, again) in enumerate(zip(records, peer.samples, regraded, strict=True)):
        ours_prompt = backend._encode(backend.render(build_prompt(mine["problem"], template)))
        peer_prompt = len(tokenizer(theirs.context)["input_ids"])
        rows.append(
            Row(
                index=index,
                ours_correct=bool(mine["correct"][0]),
                ours_answer=mine["answers"][0],
                ours_finish=mine.get("finish_reasons", [None])[0],
                ours_tokens=int(mine.get("completion_tokens", [0])[0]),
                ours_prompt_tokens=len(ours_prompt),
                peer_correct=dict(theirs.correct),
                peer_answer=dict(theirs.answer),
                peer_by_verifier=bool(again["correct"][0]),
                peer_stated_answer=stated_answer(theirs.text),
                peer_tokens=len(tokenizer(theirs.text, add_special_tokens=False)["input_ids"]),
                peer_prompt_tokens=min(peer_prompt, context),
                peer_prompt_cut=peer_prompt > context,
            )
        )
    return rows


def report(args: argparse.Namespace, seconds: dict[str, float], rows: list[Row], peer: PeerRun) -> dict:
    n = len(rows)
    rate = {arm: n / s for arm, s in seconds.items()}
    ours_acc = sum(r.ours_correct for r in rows) / n
    regraded = sum(r.peer_by_verifier for r in rows) / n
    tokens = {"ours": sum(r.ours_tokens for r in rows), "lm-eval": sum(r.peer_tokens for r in rows)}
    prompts = {
        "ours": sum(r.ours_prompt_tokens for r in rows),
        "lm-eval": sum(r.peer_prompt_tokens for r in rows),
    }
    head = f"{'arm':<40} {'seconds':>8} {'problems/s':>10} {'prompt tok':>10} {'new tok':>8} {'accuracy':>9}"
    print(head)
    arms = [(f"ours (template {args.template})", "ours", ours_acc)]
    prompt = "our prompt" if args.peer_prompt == "ours" else f"gsm8k {args.num_fewshot}-shot"
    arms += [(f"lm-eval {prompt}, {f}", "lm-eval", peer.accuracy[f]) for f in FILTERS]
    for label, arm, accuracy in arms:
        print(
            f"{label:<40} {seconds[arm]:8.1f} {rate[arm]:10.3f} {prompts[arm]:10d} {tokens[arm]:8d}"
            f" {accuracy:9.1%}"
        )
    print(f"{'lm-eval texts, our verifier':<40} {'':>8} {'':>10} {'':>10} {'':>8} {regraded:9.1%}")
    ratio = rate["ours"] / rate["lm-eval"]
    print(f"speed ratio ours / lm-eval: {ratio:.2f}x problems/s (goal >= 1x, aim 2x)")
    tables = {}
    for f in FILTERS:
        table = agreement(rows, f, args.max_new_tokens)
        changed = sum(r.peer_by_verifier != r.peer_correct[f] for r in rows)
        up = sum(r.peer_by_verifier and not r.peer_correct[f] for r in rows)
        print(f"vs {f}: " + ", ".join(f"{k} {v}" for k, v in table.items()))
        print(f"  lm-eval texts, our verifier: {changed} verdicts change ({up} up, {changed - up} down)")
        tables[f] = {**table, "regrade_changed": changed, "regrade_up": up}
    cut = sum(r.peer_prompt_cut for r in rows)
    print(f"lm-eval prompts left-truncated to fit {peer.max_length} tokens: {cut}/{n}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores")
    return {
        "rates": rate,
        "seconds": seconds,
        "ratio": ratio,
        "ours_accuracy": ours_acc,
        "peer_accuracy": peer.accuracy,
        "peer_regraded_accuracy": regraded,
        "tables": tables,
        "tokens": tokens,
        "prompt_tokens": prompts,
        "prompts_cut": cut,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: a fresh init-tiny model)")
    parser.add_argument("--data-path", default=str(DATA / "test.jsonl"), help="GSM8k test JSONL")
    parser.add_argument("--train-path", default=str(DATA / "train.jsonl"), help="lm-eval's few-shot pool")
    parser.add_argument("--problems", type=int, default=64, help="the first N test problems")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="both arms (lm-eval's default)")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per generate call, both arms")
    parser.add_argument("--num-fewshot", type=int, default=5, help="lm-eval's few-shot examples")
    parser.add_argument("--template", default="auto", help="our prompt template")
    parser.add_argument(
        "--peer-prompt", choices=("lm-eval", "ours"), default="lm-eval", help="lm-eval's prompt, or ours"
    )
    parser.add_argument("--symbolic", action="store_true", help="the tiny world's test set, GSM8k format")
    parser.add_argument("--dtype", default="float32", help="model dtype for both arms")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    parser.add_argument(
        "--cache",
        choices=("auto", "static", "dynamic"),
        default="auto",
        help="our KV cache (auto: static on CPU, as wizardmath eval does); lm-eval keeps the default",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both arms)")
    parser.add_argument("--peer-first", action="store_true", help="run lm-eval before ours")
    parser.add_argument("--json", default=None, help="write figures and per-problem rows here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from wizardmath.backends.transformers_backend import TransformersBackend
    from wizardmath.eval.runner import resolve_eval_template
    from wizardmath.models import load_causal_lm, load_tokenizer

    torch.set_num_threads(args.threads)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.model is None:
            from wizardmath.tiny import TinyConfig, init_tiny

            args.model = str(init_tiny(TinyConfig(output=str(work / "tiny"))))
        if args.symbolic:
            args.data_path, args.train_path = symbolic_gsm8k(work, args.problems)
        model = load_causal_lm(args.model, dtype=getattr(torch, args.dtype)).to(args.device).eval()
        backend = TransformersBackend(
            model, tokenizer=load_tokenizer(args.model), batch_size=args.batch_size, cache=args.cache
        )
        peer_tokenizer = load_tokenizer(args.model)
        args.template = resolve_eval_template(_template_probe(args), backend)
        doc_to_text = None
        if args.peer_prompt == "ours":
            if args.template == "chat":
                raise SystemExit("--peer-prompt ours needs a text template (--template wizardmath or raw)")
            from wizardmath.data import format_prompt

            doc_to_text, args.num_fewshot = format_prompt("{{question}}", args.template), 0
        write_task(
            work / "tasks",
            args.data_path,
            args.train_path,
            args.max_new_tokens,
            args.num_fewshot,
            doc_to_text,
        )
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(
            f"model {args.model} ({params:.1f}M params, {args.device} {args.dtype}, {args.threads} threads); "
            f"{args.problems} {'symbolic' if args.symbolic else 'GSM8k'} test problems; greedy, "
            f"{args.max_new_tokens} new tokens, "
            f"batch {args.batch_size}; lm-eval {args.num_fewshot}-shot"
        )
        seconds: dict[str, float] = {}
        arms = ["lm-eval", "ours"] if args.peer_first else ["ours", "lm-eval"]
        for arm in arms:
            print(f"  {arm}: running (load average {os.getloadavg()[0]:.1f})", flush=True)
            if arm == "ours":
                seconds["ours"], records = run_ours(args, backend, work / "ours")
            else:
                peer = run_lmeval(
                    model, peer_tokenizer, work / "tasks", args.problems, args.batch_size, args.device
                )
                seconds["lm-eval"] = peer.seconds
        rows = build_rows(records, peer, backend, args.template, args.max_new_tokens)
    figures = report(args, seconds, rows, peer)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "figures": figures,
                    "rows": [asdict(r) for r in rows],
                    "peer_texts": [s.text for s in peer.samples],
                    "args": vars(args),
                },
                indent=1,
            )
        )
    return 0


def _template_probe(args: argparse.Namespace) -> Any:
    from wizardmath.eval import EvalConfig

    return EvalConfig(model=args.model, template=args.template, report_to="none")


if __name__ == "__main__":
    sys.exit(main())
