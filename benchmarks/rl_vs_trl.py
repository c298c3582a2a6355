"""One RL step of wizardmath's PPO (GAE critic, and group-normalised advantages) against TRL's
``GRPOTrainer`` set up directly, on the same model, prompts, reward and sizes.

Each step samples ``--prompts`` x ``--group`` responses of at most ``--max-new-tokens`` tokens at
temperature 1, scores them with wizardmath's verifier (for TRL, the same reward object as a TRL reward
function), and takes exactly one optimizer step (ours: ``ppo_epochs 1``, one minibatch of the whole
batch; TRL: ``num_iterations 1``, ``gradient_accumulation_steps 1``). Both keep a frozen reference for
a KL term of the same coefficient; neither checkpoints gradients, filters groups or validates.
Seconds per step by phase (generation, scoring, update: everything after scoring) are the median over
the steps after the first (warm-up)::

    python benchmarks/rl_vs_trl.py --model runs/tiny/sft --steps 6      # 64 responses x 128 tokens
    python benchmarks/rl_vs_trl.py --model runs/smol/base --prompts 2 --group 4 --max-new-tokens 64 --steps 3

Prints the phases, responses/s and the ratio TRL step / our step (> 1: ours is faster). The arms run
``--rounds`` times, interleaved, and each keeps its best round: on a shared machine whose speed drifts
by 2x within minutes, one run each compares the load more than the code. Problems are
symbolic word problems (``--data`` for a JSONL file); the two arms draw their batches in their own
orders from the same problems. ``--arms`` picks the arms (ppo, grpo, trl). On CUDA both arms run bf16.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ppo_bench import problems_file, run  # noqa: E402
from trl_peer import PHASES, RLSettings, run_trl  # noqa: E402

ARMS = {
    "ppo": "ours: ppo, gae critic",
    "grpo": "ours: ppo, grpo advantages",
    "trl": "TRL GRPOTrainer",
}


def medians(steps: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds of each phase and of the step, the first step left out when there are more."""
    rows = steps[1:] if len(steps) > 1 else steps
    return {k: statistics.median(r[k] for r in rows) for k in (*PHASES, "step")}


def ours(arm: str, model: str, data: Path, out: Path, s: RLSettings, template: str) -> dict[str, float]:
    """``wizardmath ppo`` with the shared settings; its own phase metrics renamed to the peer's."""
    r = run(
        model,
        data,
        out,
        s.steps,
        batch_size=s.prompts,
        num_samples=s.group,
        mini_batch_size=s.responses,
        ppo_epochs=1,
        gradient_accumulation_steps=1,
        max_new_tokens=s.max_new_tokens,
        max_prompt_length=1024,
        temperature=s.temperature,
        learning_rate=s.learning_rate,
        kl_coef=s.beta,
        advantage_estimator="gae" if arm == "ppo" else "grpo",
        reward_funcs=["verifier"],
        reward_workers=1,
        reward_timeout=5.0,
        template=template,
        seed=s.seed,
        bf16=s.bf16,
    )
    names = {"time/rollout": "generation", "time/reward": "scoring", "time/update": "update"}
    return {**{names[k]: r[k] for k in names}, "step": r["step"], "length": r["length"]}


def peer(model_path: str, data: Path, out: Path, s: RLSettings, template: str) -> dict[str, float]:
    """TRL's GRPOTrainer on the same model folder, prompts rendered as ``wizardmath ppo`` and ``wizardmath
    grpo`` render them."""
    import torch

    from wizardmath.data import load_problems
    from wizardmath.models import load_causal_lm, load_tokenizer
    from wizardmath.rewards import RewardArguments, build_reward
    from wizardmath.train.grpo import load_prompts

    tokenizer = load_tokenizer(model_path)
    model = load_causal_lm(model_path, dtype=torch.bfloat16 if s.bf16 else torch.float32)
    # the prompt dataset ``wizardmath grpo`` hands TRL (prompt, problem, answer, id), from these problems
    source = SimpleNamespace(
        model=model_path, template=template, train_problems=lambda: load_problems("jsonl", str(data))
    )
    rows = load_prompts(source)
    reward = build_reward(RewardArguments(reward_funcs=["verifier"], reward_workers=1, reward_timeout=5.0))
    try:
        steps, length = run_trl(model, tokenizer, rows, reward, s, str(out))
    finally:
        reward.close()
    return {**medians(steps), "length": length}


def row(label: str, r: dict[str, float], s: RLSettings) -> str:
    return (
        f"{label:<38} generation {r['generation']:6.2f}s  scoring {r['scoring']:6.3f}s  "
        f"update {r['update']:6.2f}s  step {r['step']:6.2f}s  {s.responses / r['step']:6.2f} responses/s  "
        f"length {r['length']:5.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="policy folder (default: a fresh init-tiny model)")
    parser.add_argument("--data", help="problems JSONL (default: 256 symbolic problems)")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="responses per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per arm (the first is warm-up)")
    parser.add_argument(
        "--template", default="auto", help="prompt template (auto: chat if the model has one)"
    )
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (all arms)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per arm, interleaved; the best is kept")
    args = parser.parse_args(argv)
    import torch

    from wizardmath.data.templates import template_for_model

    torch.set_num_threads(args.threads)
    s = RLSettings(args.prompts, args.group, args.max_new_tokens, args.steps, bf16=torch.cuda.is_available())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.model is None:
            from wizardmath.tiny import TinyConfig, init_tiny

            args.model = str(init_tiny(TinyConfig(output=str(work / "tiny"))))
        template = template_for_model(args.template, args.model)
        data = Path(args.data) if args.data else problems_file(work, 256, seed=1)
        print(
            f"model {args.model}, template {template}; {s.responses} responses a step ({s.prompts} prompts x "
            f"{s.group}), <= {s.max_new_tokens} new tokens, {s.steps} steps (first left out), "
            f"{'cuda bf16' if s.bf16 else f'cpu fp32, {args.threads} thread(s)'}",
            flush=True,
        )
        rounds: dict[str, list[dict[str, float]]] = {arm: [] for arm in args.arms}
        for index in range(args.rounds):  # arms interleaved, so load drift hurts them alike
            for arm in args.arms:
                start, load = time.perf_counter(), os.getloadavg()[0]
                out = work / f"{arm}{index}"
                if arm == "trl":
                    r = peer(args.model, data, out, s, template)
                else:
                    r = ours(arm, args.model, data, out, s, template)
                rounds[arm].append(r)
                label = f"{ARMS[arm]}, round {index + 1}"
                print(
                    f"{row(label, r, s)}  (run {time.perf_counter() - start:.0f}s, "
                    f"load {load:.1f} -> {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    results = {arm: min(rs, key=lambda r: r["step"]) for arm, rs in rounds.items()}
    print(f"best of {args.rounds} round(s) per arm (the round with the shortest median step):")
    for arm, r in results.items():
        print(row(ARMS[arm], r, s))
    if "trl" in results:
        trl = results["trl"]
        for arm in (a for a in results if a != "trl"):
            ratios = "  ".join(f"{p} {trl[p] / results[arm][p]:.2f}x" for p in (*PHASES, "step"))
            print(f"TRL / {ARMS[arm]}: {ratios}  (> 1: ours faster; goal >= 1x, aim 1.5x)")
    print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
