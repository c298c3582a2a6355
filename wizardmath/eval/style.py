"""Which teacher style a model writes in, and how well it solves in each (the tiny world's style mix).

The style shows at the completion's first token (terse solutions open with "In short,", decomposed ones
with "Step 1:"), so one forward pass gives the probability of each and the entropy there: the forking
token RL acts on. Forcing each style's opening and decoding greedily gives the accuracy per style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from wizardmath.evol.symbolic_solve import TERSE_HEAD, solution_style

OPENINGS = {"terse": " " + TERSE_HEAD, "decomposed": " Step 1:"}


@torch.no_grad()
def style_probe(
    policy,
    tokenizer,
    problems: Sequence[Any],
    template: str = "wizardmath",
    max_new_tokens: int = 128,
    batch: int = 64,
) -> dict[str, float]:
    """Mean P(terse opening) and entropy (nats) at the first completion token, the share of greedy
    completions in the terse style, and greedy accuracy with each style's opening forced."""
    from wizardmath.backends.rollout import generate_hf
    from wizardmath.data import format_prompt
    from wizardmath.verify import verify_batch

    was_training = policy.training
    policy.eval()
    device = next(policy.parameters()).device
    terse_id = tokenizer(OPENINGS["terse"], add_special_tokens=False)["input_ids"][0]
    prompts = [format_prompt(p.problem, template, tokenizer) for p in problems]
    p_terse, entropy, greedy_terse = [], [], []
    correct = {style: 0 for style in OPENINGS}
    for i in range(0, len(prompts), batch):
        chunk, gold = prompts[i : i + batch], [p.answer or "" for p in problems[i : i + batch]]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left").to(device)
        logits = policy(**enc).logits[:, -1].float()
        probs = logits.softmax(-1)
        p_terse += probs[:, terse_id].tolist()
        entropy += (-(probs * logits.log_softmax(-1)).sum(-1)).tolist()
        plain = generate_hf(policy, tokenizer, chunk, 1024, max_new_tokens, seed=0).texts
        greedy_terse += [solution_style(t) == "terse" for t in plain]
        for style, opening in OPENINGS.items():
            texts = generate_hf(
                policy, tokenizer, [c + opening for c in chunk], 1024, max_new_tokens, seed=0
            ).texts
            correct[style] += sum(
                verify_batch(list(zip(gold, [opening + t for t in texts], strict=True)), workers=1)
            )
    policy.train(was_training)
    n = max(len(prompts), 1)
    return {
        "p_terse_first_token": sum(p_terse) / n,
        "entropy_first_token": sum(entropy) / n,
        "greedy_terse_share": sum(greedy_terse) / n,
        **{f"accuracy_forced_{style}": correct[style] / n for style in OPENINGS},
        "n": len(prompts),
    }
