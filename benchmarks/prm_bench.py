"""PRM benchmark in the tiny world (CPU): step AUC, Monte-Carlo vs rule agreement, best-of-K reranking.

    python benchmarks/prm_bench.py --sft runs/tiny/sft --work runs/prm_bench

1. The SFT model samples ``--samples`` solutions for ``--train-problems`` symbolic problems; the
   rule-based labeller (verifier step checks + final answer) labels their steps; ``train-prm``
   trains on them with ``configs/tiny/prm.yaml`` (timed).
2. Held out: ``--test-problems`` new symbolic problems (another seed, texts disjoint from training),
   ``--k`` samples each. Step-level AUC of the PRM against the rule labels (steps the rule labeller
   could label, i.e. solutions whose errors it located, and correct ones).
3. Monte-Carlo labels (``--mc-rollouts`` rollouts per step prefix) on ``--mc-solutions`` held-out
   solutions: agreement with the rule labels on steps both label.
4. Best-of-K on the held-out set: accuracy of the first sample, majority vote, PRM-weighted vote,
   best-of-K by PRM score (``min`` over steps, and ``last``), best-of-K by the verifier's own
   arithmetic checks (``wizardmath.rewards.arithmetic_reward``, a gold-free reference the PRM is
   trying to learn), and pass@K (an oracle ceiling). ``within_problem_pair_accuracy`` is how often
   the PRM scores a correct solution above a wrong one *of the same problem*, the quantity best-of-K
   rests on (step AUC also rewards telling easy problems from hard ones).

Prints a table and writes ``<work>/prm_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path


def sample(backend, problems, n: int, temperature: float, max_new_tokens: int, seed: int):
    from reward_models.common import split_solution
    from reward_models.labelers import Solution
    from wizardmath.backends import SamplingParams
    from wizardmath.data.templates import format_prompt

    sampling = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, n=n, seed=seed)
    results = backend.generate([format_prompt(p.problem) for p in problems], sampling)
    out = []
    for p, gens in zip(problems, results, strict=True):
        out.append(
            [
                Solution(
                    f"{p.id}/s{k}",
                    p.problem,
                    p.answer,
                    split_solution(g.text) or [g.text.strip() or "(empty)"],
                )
                for k, g in enumerate(gens)
            ]
        )
    return out


def label_file(path: Path, solutions, labels) -> int:
    from reward_models.labelers import _record
    from wizardmath.jsonl import write_jsonl

    return write_jsonl(
        path, (_record(s, lab, len(s.steps), "rule") for s, lab in zip(solutions, labels, strict=True))
    )


def add_extra(path: Path, extra: str, limit: int, seed: int) -> None:
    """Append up to ``limit`` random records of another stepwise file (shuffled in by the trainer)."""
    from wizardmath.jsonl import read_jsonl, write_jsonl

    rows = read_jsonl(extra)
    rows = random.Random(seed).sample(rows, min(limit, len(rows)))
    write_jsonl(path, read_jsonl(path) + rows)


def best_of_k(groups, scores_min, scores_last):
    """Accuracies over problems: first sample, majority, PRM-weighted vote, best-of-K, pass@K."""
    from wizardmath.eval.metrics import majority_vote, pair_wins
    from wizardmath.rewards import arithmetic_reward
    from wizardmath.verify import extract_answer, is_equivalent, verify

    tally = defaultdict(float)
    pairs = pairs_right = 0.0
    for sols, smin, slast in zip(groups, scores_min, scores_last, strict=True):
        correct = [verify(s.answer, s.text) for s in sols]
        checks = [1.0 if v is None else v for v in arithmetic_reward([s.text for s in sols])]
        group_wins, group_pairs = pair_wins(smin, correct)
        pairs_right, pairs = pairs_right + group_wins, pairs + group_pairs
        answers = [extract_answer(s.text) for s in sols]
        # the votes `wizardmath eval` counts for maj@K and its PRM-weighted vote (equivalent answers pool)
        vote, weighted = majority_vote(answers), majority_vote(answers, weights=smin)
        tally["first_sample"] += correct[0]
        tally["majority_vote"] += vote is not None and is_equivalent(sols[0].answer, vote)
        tally["prm_weighted_vote"] += weighted is not None and is_equivalent(sols[0].answer, weighted)
        tally["best_of_k_prm_min"] += correct[max(range(len(sols)), key=lambda i: smin[i])]
        tally["best_of_k_prm_last"] += correct[max(range(len(sols)), key=lambda i: slast[i])]
        tally["best_of_k_arithmetic_checks"] += correct[max(range(len(sols)), key=lambda i: checks[i])]
        tally["pass_at_k"] += any(correct)
    out = {k: v / len(groups) for k, v in tally.items()}
    out["within_problem_pair_accuracy"] = pairs_right / pairs if pairs else float("nan")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sft", required=True, help="the tiny SFT model (policy and PRM base)")
    parser.add_argument("--work", default="runs/prm_bench")
    parser.add_argument("--prm-config", default="configs/tiny/prm.yaml")
    parser.add_argument("--train-problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--test-problems", type=int, default=150)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--mc-solutions", type=int, default=150)
    parser.add_argument("--mc-rollouts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--min-ops", type=int, default=1, help="fewest arithmetic steps of a symbolic problem"
    )
    parser.add_argument(
        "--max-ops", type=int, default=4, help="most arithmetic steps (lower it for a weak SFT model)"
    )
    parser.add_argument(
        "--extra-labels",
        default=None,
        help="stepwise JSONL added to the PRM's training data (e.g. the teacher's labelled solve output)",
    )
    parser.add_argument(
        "--extra-limit", type=int, default=1600, help="use at most this many extra records (random)"
    )
    parser.add_argument(
        "--epochs", type=float, default=None, help="override num_train_epochs of --prm-config"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from reward_models.common import auc
    from reward_models.labelers import MonteCarloLabeler, RuleLabeler, agreement
    from reward_models.prm import PRMConfig, ProcessRewardModel, train_prm
    from wizardmath.backends import get_backend
    from wizardmath.config import load_config
    from wizardmath.evol.symbolic import generate_problems

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"args": vars(args)}
    train_problems = generate_problems(
        args.train_problems,
        seed=1000 + args.seed,
        min_ops=args.min_ops,
        max_ops=args.max_ops,
        prefix="prmtrain",
    )
    test_problems = generate_problems(
        args.test_problems,
        seed=2000 + args.seed,
        min_ops=args.min_ops,
        max_ops=args.max_ops,
        prefix="prmtest",
        exclude={p.problem for p in train_problems},
    )
    backend = get_backend("transformers", model=args.sft, batch_size=args.batch_size, device="cpu")

    start = time.perf_counter()
    train_solutions = [
        s
        for group in sample(
            backend, train_problems, args.samples, args.temperature, args.max_new_tokens, args.seed
        )
        for s in group
    ]
    test_groups = sample(backend, test_problems, args.k, args.temperature, args.max_new_tokens, args.seed + 1)
    report["sampling_seconds"] = round(time.perf_counter() - start, 1)
    rule = RuleLabeler()
    train_labels = rule.label(train_solutions)
    label_file(work / "prm_labels.jsonl", train_solutions, train_labels)
    if args.extra_labels:
        add_extra(work / "prm_labels.jsonl", args.extra_labels, args.extra_limit, args.seed)
    test_solutions = [s for g in test_groups for s in g]
    test_labels = rule.label(test_solutions)
    label_file(work / "prm_test_labels.jsonl", test_solutions, test_labels)

    start = time.perf_counter()
    config = load_config(
        PRMConfig,
        args.prm_config,
        model=args.sft,
        data_path=str(work / "prm_labels.jsonl"),
        output_dir=str(work / "prm"),
        eval_fraction=0.0,
        resume="never",
        **({"num_train_epochs": args.epochs} if args.epochs else {}),
    )
    train_summary = train_prm(config)
    report["train_prm_seconds"] = round(time.perf_counter() - start, 1)
    report["train_steps"] = train_summary["train_steps_labelled"]

    prm = ProcessRewardModel.from_pretrained(str(work / "prm"), device="cpu")
    step_scores = prm.score_batch([(s.problem, s.steps) for s in test_solutions], batch_size=32)
    pairs = [
        (score, lab)
        for scores, labs in zip(step_scores, test_labels, strict=True)
        for score, lab in zip(scores, labs.labels, strict=True)
        if lab is not None
    ]
    report["test_steps_labelled"] = len(pairs)
    report["test_step_error_rate"] = sum(not y for _, y in pairs) / max(len(pairs), 1)
    report["step_auc"] = auc([s for s, _ in pairs], [y for _, y in pairs])

    mc_pick = random.Random(args.seed).sample(test_solutions, min(args.mc_solutions, len(test_solutions)))
    start = time.perf_counter()
    mc = MonteCarloLabeler(
        backend,
        rollouts=args.mc_rollouts,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed + 2,
    ).label(mc_pick)
    rule_pick = rule.label(mc_pick)
    agree, compared = agreement(mc, rule_pick)
    # the two ways they part: rule says wrong but some rollout still reaches the answer (the policy
    # carries on from the right value it did not write), or rule says right and no rollout gets there
    recovered = sum(
        u is True and v is False
        for a, b in zip(mc, rule_pick, strict=True)
        for u, v in zip(a.labels, b.labels, strict=True)
    )
    report.update(
        mc_seconds=round(time.perf_counter() - start, 1),
        mc_agreement=agree / max(compared, 1),
        mc_steps_compared=compared,
        mc_true_rule_false=recovered,
        mc_false_rule_true=compared - agree - recovered,
    )

    flat_min = [min(s) if s else 0.0 for s in step_scores]
    flat_last = [s[-1] if s else 0.0 for s in step_scores]
    k = args.k
    report["best_of_k"] = best_of_k(
        test_groups,
        [flat_min[i : i + k] for i in range(0, len(flat_min), k)],
        [flat_last[i : i + k] for i in range(0, len(flat_last), k)],
    )
    (work / "prm_bench.json").write_text(json.dumps(report, indent=2))
    print(f"\nPRM bench (tiny world, CPU) -> {work / 'prm_bench.json'}")
    print(
        f"  train: {len(train_solutions)} solutions, {report['train_steps']} labelled steps, train-prm "
        f"{report['train_prm_seconds']} s"
    )
    print(
        f"  held-out step AUC (rule labels): {report['step_auc']:.3f} on {len(pairs)} steps "
        f"({report['test_step_error_rate']:.0%} wrong)"
    )
    print(
        f"  Monte-Carlo vs rule agreement:   {report['mc_agreement']:.3f} on {compared} steps "
        f"({args.mc_rollouts} rollouts; {recovered} rule-wrong steps MC finds recoverable, "
        f"{report['mc_false_rule_true']} rule-right steps no rollout finishes)"
    )
    print(f"  best-of-{k} on {len(test_groups)} held-out problems:")
    for name, value in report["best_of_k"].items():
        print(f"    {name:<30} {value:6.1%}")


if __name__ == "__main__":
    main()
