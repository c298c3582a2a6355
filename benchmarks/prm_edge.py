"""Can a verifier trained on the policy's step labels get the step checker's edge? (tiny world, CPU)

Two experiments behind the README's step-checker section, on one seed; neither gave a PRM the edge.

``drills``: a 2-way classification head, as the PRM has, on isolated claims ``a op b = c.`` (half of
them slipped by +-1, +-2 or +-10), read at the separator after the claim. From the checker's weights
the head has the arithmetic in the model already; the question is whether it learns to compare the
written result with it. Prints held-out drill accuracy every 250 steps::

    python benchmarks/prm_edge.py drills --model runs/tiny/checker --steps 3000

``in-context``: a *generative* step score, no head: a step scores ``P(the model writes the step's
claimed results | the solution so far)``, the product over its claims; a solution scores the minimum
over its steps (as the PRM and the checker rank). The model reads the whole solution, so unlike the
checker it could see a number misread from the problem. With ``--labels`` (stepwise records labelled
to the first wrong step) it is first fine-tuned on them: negative log-likelihood of the results of
right claims and unlikelihood, ``-log(1 - P)``, of the arithmetically wrong claims in a step labelled
false. Prints best-of-K and within-problem pair accuracy on the samples of ``--samples`` (an
``eval`` results file with ``completions`` and ``correct``) before training and after each epoch::

    python benchmarks/prm_edge.py in-context --model runs/tiny/sft_evolved \\
        --samples runs/tiny/eval/val_samples.jsonl --labels runs/tiny/prm_labels.jsonl --epochs 3

Own code, not a library's: no trainer offers a claim-level unlikelihood loss, and the experiment is
small enough to read top to bottom. Output texts are matched by the checker's bounded regex only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Sequence
from typing import Any

import torch

from reward_models.step_checker import CLAIM, arithmetic_facts, claim_prompt
from wizardmath.data import format_prompt
from wizardmath.eval.metrics import pair_wins
from wizardmath.verify.steps import check_step

Claim = tuple[list[int], bool]  # token positions of " c", and whether a op b = c holds


def claim_holds(a: str, op: str, b: str, c: str) -> bool:
    """The exact checker's verdict on one claim, as the rule labeller gives it (``5 / 0 = 0``: unknown)."""
    return check_step(f"{a} {op} {b} = {c}")[0] == "correct"


def padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def linear_schedule(optimizer: Any, warmup: int, total: int) -> Any:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / total)
    )


# ------------------------------------------------------------------------------------------ drills


def drills(args: argparse.Namespace) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    pad = tokenizer.pad_token_id or 0
    facts = list(arithmetic_facts())
    rng.shuffle(facts)
    held, train = facts[:1000], facts[1000:]

    def batch(chosen: Sequence[tuple[int, str, int, int]]) -> tuple[torch.Tensor, ...]:
        rows, last, targets = [], [], []
        for a, op, b, c in chosen:
            slipped = rng.random() < 0.5
            if slipped:
                c = rng.choice([c + d for d in (-2, -1, 1, 2, 10, -10) if c + d >= 0])
            ids = tokenizer(f"{claim_prompt(a, op, b)} {c}.\n", add_special_tokens=False)["input_ids"]
            rows.append(ids)
            last.append(len(ids) - 1)
            targets.append(0 if slipped else 1)
        ids, mask = padded(rows, pad)
        return ids, mask, torch.tensor(last), torch.tensor(targets)

    model = AutoModelForTokenClassification.from_pretrained(args.model, num_labels=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = linear_schedule(optimizer, 100, args.steps)
    held_batches = [batch(held[i : i + 250]) for i in range(0, len(held), 250)]

    def held_accuracy() -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for ids, mask, last, targets in held_batches:
                logits = model(input_ids=ids, attention_mask=mask).logits
                right += int((logits[torch.arange(len(targets)), last].argmax(-1) == targets).sum())
        model.train()
        return right / len(held)

    draw, start, losses = random.Random(args.seed + 1), time.perf_counter(), []
    model.train()
    for step in range(1, args.steps + 1):
        ids, mask, last, targets = batch(draw.sample(train, args.batch_size))
        logits = model(input_ids=ids, attention_mask=mask).logits[torch.arange(len(targets)), last]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 250 == 0:
            print(
                f"step {step} loss {sum(losses[-250:]) / 250:.3f} held-out drill accuracy "
                f"{held_accuracy():.3f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


# -------------------------------------------------------------------------------------- in context


class InContextScorer:
    """Claim log-probabilities of whole solutions under a causal LM (see the module docstring)."""

    def __init__(self, path: str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path)
        self.pad = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0

    def encode(self, problem: str, steps: Sequence[str]) -> tuple[list[int], list[list[Claim]]]:
        """Token ids of prompt + steps, and per step its claims' result tokens (the space and digits)."""
        text, spans = format_prompt(problem, "wizardmath") + " ", []
        for i, step in enumerate(steps):
            begin = len(text)
            text += step.strip() + ("\n" if i < len(steps) - 1 else "")
            spans.append(
                [
                    (begin + m.start(4) - 1, begin + m.end(4), claim_holds(*m.groups()))
                    for m in CLAIM.finditer(step.strip())
                ]
            )
        encoded = self.tokenizer(text, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        claims = [
            [
                ([t for t, (s, e) in enumerate(offsets) if e > lo and s < hi and e > s], holds)
                for lo, hi, holds in step
            ]
            for step in spans
        ]
        return encoded["input_ids"], claims

    def claim_logprobs(self, rows: Sequence[tuple[list[int], list[list[Claim]]]]) -> list[list[list[Any]]]:
        """Per solution, per step, per claim: log P(result tokens | everything before them)."""
        ids, mask = padded([r[0] for r in rows], self.pad)
        logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        out = []
        for row, (_, claims) in enumerate(rows):
            out.append(
                [
                    [
                        sum((logp[row, t - 1, ids[row, t]] for t in positions), torch.tensor(0.0))
                        for positions, _ in step
                    ]
                    for step in claims
                ]
            )
        return out

    def rank(self, samples_path: str) -> tuple[float, float]:
        """Best-of-K accuracy and within-problem pair accuracy (ties: half) on an eval results file."""
        self.model.eval()
        chosen_right, wins, pairs, problems = 0, 0.0, 0, 0
        with torch.no_grad(), open(samples_path) as handle:
            for line in handle:
                record = json.loads(line)
                rows = [self.encode(record["problem"], c.strip().split("\n")) for c in record["completions"]]
                scores = [
                    min([math.exp(float(sum(step, torch.tensor(0.0)))) for step in solution] or [1.0])
                    for solution in self.claim_logprobs(rows)
                ]
                correct = record["correct"]
                chosen_right += bool(correct[max(range(len(scores)), key=scores.__getitem__)])
                problems += 1
                problem_wins, problem_pairs = pair_wins(scores, correct)
                wins, pairs = wins + problem_wins, pairs + problem_pairs
        self.model.train()
        return chosen_right / max(problems, 1), wins / max(pairs, 1)

    def labelled(self, path: str) -> list[tuple[list[int], list[list[Claim]]]]:
        """Stepwise records as training rows: claims of steps labelled true count as right; in the
        first step labelled false, its arithmetically wrong claims are the negatives; later steps
        (unlabelled) are left out."""
        rows = []
        with open(path) as handle:
            for line in handle:
                record = json.loads(line)
                ids, claims = self.encode(record["prompt"], record["completions"])
                kept: list[list[Claim]] = []
                for step, label in zip(claims, record["labels"], strict=False):
                    if label is None:
                        break
                    kept.append([(positions, holds or label is not False) for positions, holds in step])
                rows.append((ids, kept))
        return rows


def in_context(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    scorer = InContextScorer(args.model)
    print(f"{args.model}, untrained: best-of-K, pair accuracy {scorer.rank(args.samples)}", flush=True)
    if not args.labels or not args.epochs:
        return
    rows, rng = scorer.labelled(args.labels), random.Random(args.seed)
    optimizer = torch.optim.AdamW(scorer.model.parameters(), lr=args.lr, weight_decay=0.0)
    schedule = linear_schedule(optimizer, 50, args.epochs * math.ceil(len(rows) / args.batch_size))
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(rows)
        losses = []
        for begin in range(0, len(rows), args.batch_size):
            chunk = rows[begin : begin + args.batch_size]
            terms = [
                -logp if right else -torch.log1p(-torch.exp(logp).clamp(max=1 - 1e-6))
                for solution, (_, claims) in zip(scorer.claim_logprobs(chunk), chunk, strict=True)
                for step_logps, step in zip(solution, claims, strict=True)
                for logp, (_, right) in zip(step_logps, step, strict=True)
            ]
            if not terms:
                continue
            loss = torch.stack(terms).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        print(
            f"epoch {epoch} loss {sum(losses) / max(len(losses), 1):.4f} "
            f"({time.perf_counter() - start:.0f} s): best-of-K, pair accuracy {scorer.rank(args.samples)}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, default_lr, default_batch in (("drills", 1e-3, 64), ("in-context", 3e-4, 16)):
        command = commands.add_parser(name)
        command.add_argument("--model", required=True, help="model folder to start from")
        command.add_argument("--lr", type=float, default=default_lr)
        command.add_argument("--batch-size", type=int, default=default_batch)
        command.add_argument("--seed", type=int, default=0)
    commands.choices["drills"].add_argument("--steps", type=int, default=3000)
    context = commands.choices["in-context"]
    context.add_argument("--samples", required=True, help="eval results with completions and correct")
    context.add_argument("--labels", help="stepwise labels to fine-tune on (prompt, completions, labels)")
    context.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if args.command == "drills":
        drills(args)
    else:
        in_context(args)


if __name__ == "__main__":
    main()
