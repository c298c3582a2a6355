"""Time per PPO step, split into rollout, reward and update.

CPU (always): the tiny LLaMA from ``init-tiny`` (or ``--model DIR``, e.g. the tiny SFT model) on
symbolic problems, HF ``generate`` rollouts::

    python benchmarks/ppo_bench.py --steps 5
    python benchmarks/ppo_bench.py --model runs/tiny/sft_evolved --data runs/tiny/evol/problems.jsonl

It times the issue-14 rollout setting against the earlier one (responses per second: see ``setups``).

The paper's reward (``--paper-reward``): the same PPO steps rewarded by the verifier alone and by
IRM x PRM x verifier (``reward_combine: product``), seconds per step by phase, then each term's cost
per response on one batch of sampled responses (the IRM scores each problem once for its group of
samples). ``--irm``/``--prm`` name trained folders; without them both are the policy's own network with
a fresh head (``AutoModelFor{Sequence,Token}Classification``), which costs what a trained one of that
size costs and scores nothing meaningful::

    python benchmarks/ppo_bench.py --model runs/tiny/sft --paper-reward --steps 4 --skip-gpu

GPU (when CUDA is there): a ~150M-parameter LLaMA built locally from a config (no download) with the
tiny tokenizer, PPO steps with HF ``generate`` and, when vLLM is installed, with vLLM rollouts; prints
the per-phase times and the vLLM / HF speed-up. Skipped with the reason otherwise. Phases come
from the trainer's own ``time/rollout``, ``time/reward`` and ``time/update`` metrics; the first
step is left out as warm-up when there are several.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("time/rollout", "time/reward", "time/update")


def problems_file(folder: Path, n: int, seed: int) -> Path:
    from wizardmath.evol.symbolic import generate_problems

    path = folder / "problems.jsonl"
    with path.open("w") as out:
        for p in generate_problems(n, seed=seed, min_ops=1, max_ops=4):
            out.write(json.dumps(p.to_dict()) + "\n")
    return path


def run(model: str, data: Path, out: Path, steps: int, **overrides) -> dict[str, float]:
    """PPO for ``steps`` steps; median seconds per phase (first step dropped as warm-up when steps > 1)."""
    from wizardmath.train.ppo import PPOConfig, train_ppo

    config = PPOConfig(
        model=model,
        data_path=str(data),
        output_dir=str(out),
        steps=steps,
        save_steps=0,
        report_to="none",
        resume="never",
        **overrides,
    )
    start = time.perf_counter()
    train_ppo(config)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = rows[1:] if len(rows) > 1 else rows
    result = {k: statistics.median(r[k] for r in rows) for k in PHASES}
    result["step"] = sum(result.values())
    result["tokens/s"] = statistics.median(
        r["response/length"] * config.batch_size * config.num_samples / r["time/rollout"] for r in rows
    )
    result["responses/s"] = config.batch_size * config.num_samples / result["step"]
    result["length"] = statistics.median(r["response/length"] for r in rows)
    result["wall"] = wall
    return result


def table(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<28} rollout {r['time/rollout']:7.2f}s  reward {r['time/reward']:6.3f}s"
        f"  update {r['time/update']:7.2f}s  step {r['step']:7.2f}s"
        f"  ({r['tokens/s']:7.0f} generated tokens/s, {r['responses/s']:5.1f} responses/s)"
    )


def cpu_bench(args, work: Path) -> None:
    from wizardmath.tiny import TinyConfig, init_tiny

    model = args.model or str(init_tiny(TinyConfig(output=str(work / "tiny"))))
    data = Path(args.data) if args.data else problems_file(work, 256, seed=1)
    # Before (issue 14): 32 prompts x 2 samples, GAE critic, 2 epochs of minibatches of 32.
    # After: 32 prompts x a group of 8 (256 responses), group-normalised advantages, DAPO-style
    # filtering, 1 epoch of minibatches of 64.
    setups = {
        "before: 32x2, gae, 2 epochs": dict(
            batch_size=args.batch_size, num_samples=2, mini_batch_size=32, ppo_epochs=2
        ),
        "after: 32x8, grpo, filtered": dict(
            batch_size=args.batch_size,
            num_samples=8,
            mini_batch_size=64,
            ppo_epochs=1,
            advantage_estimator="grpo",
            filter_groups=True,
            keep_easy=0.1,
        ),
    }
    for index, (name, setup) in enumerate(setups.items()):
        r = run(
            model,
            data,
            work / f"cpu{index}",
            args.steps,
            max_new_tokens=args.max_new_tokens,
            reward_funcs=["verifier"],
            **setup,
        )
        print(table(f"CPU tiny, {name}", r))


def gpu_bench(args, work: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        print("GPU benchmark skipped: no CUDA device on this machine")
        return
    from transformers import LlamaConfig, LlamaForCausalLM

    from wizardmath.tiny import TinyConfig, build_tokenizer

    tokenizer = build_tokenizer(TinyConfig())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=1024,
        intermediate_size=2816,
        num_hidden_layers=12,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    folder = work / "llama-150m"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = problems_file(work, 1024, seed=1)
    common = dict(batch_size=64, mini_batch_size=32, max_new_tokens=256, bf16=True, reward_funcs=["verifier"])
    hf = run(str(folder), data, work / "gpu-hf", args.steps, rollout_backend="hf", **common)
    print(table(f"GPU {params / 1e6:.0f}M, HF generate", hf))
    from importlib.util import find_spec

    if find_spec("vllm") is None:
        print("vLLM rollouts skipped: vllm is not installed (pip install 'wizardmath[vllm]')")
        return
    vllm = run(
        str(folder),
        data,
        work / "gpu-vllm",
        args.steps,
        rollout_backend="vllm",
        vllm_gpu_memory_utilization=0.3,
        **common,
    )
    print(table(f"GPU {params / 1e6:.0f}M, vLLM", vllm))
    print(
        f"vLLM / HF rollout speed-up: {hf['time/rollout'] / vllm['time/rollout']:.1f}x; "
        f"step speed-up: {hf['step'] / vllm['step']:.1f}x"
    )


def reward_heads(model: str, work: Path) -> tuple[str, str]:
    """IRM and PRM folders: ``model`` with a fresh 1-output sequence head and 2-way token head."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from wizardmath.models import load_tokenizer

    folders = []
    for name, auto, labels in (
        ("irm", AutoModelForSequenceClassification, 1),
        ("prm", AutoModelForTokenClassification, 2),
    ):
        folder = work / name
        tokenizer = load_tokenizer(model)
        head = auto.from_pretrained(model, num_labels=labels)
        head.config.pad_token_id = tokenizer.pad_token_id
        head.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders.append(str(folder))
    return folders[0], folders[1]


def term_costs(model: str, data: Path, irm: str, prm: str, prompts: int, group: int, max_new_tokens: int):
    """Seconds per response of each reward term on ``prompts`` x ``group`` sampled responses."""
    from wizardmath.backends import SamplingParams
    from wizardmath.backends.transformers_backend import TransformersBackend
    from wizardmath.data import format_prompt, load_problems
    from wizardmath.rewards import RewardArguments, build_reward

    problems = load_problems("jsonl", str(data), limit=prompts)
    backend = TransformersBackend(model, batch_size=prompts, stop_at_answer=False)  # cuda when there is one
    sampling = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens, n=group, seed=0)
    texts = [
        g.text
        for gens in backend.generate([format_prompt(p.problem) for p in problems], sampling)
        for g in gens
    ]
    columns = {
        "problem": [p.problem for p in problems for _ in range(group)],
        "answer": [p.answer for p in problems for _ in range(group)],
    }
    args = RewardArguments(
        reward_funcs=["irm", "prm", "verifier"], irm_path=irm, prm_path=prm, reward_workers=1
    )
    reward = build_reward(args)
    costs = {}
    try:
        for term in reward.terms:
            term(texts[:2], **{k: v[:2] for k, v in columns.items()})  # warm-up (first-call costs)
            start = time.perf_counter()
            term(texts, **columns)
            costs[term.__name__] = (time.perf_counter() - start) / len(texts)
    finally:
        reward.close()
    return costs


def paper_reward_bench(args, work: Path) -> None:
    """PPO steps with the verifier alone, then with IRM x PRM x verifier; each term's cost per response."""
    import torch

    from wizardmath.tiny import TinyConfig, init_tiny

    model = args.model or str(init_tiny(TinyConfig(output=str(work / "tiny"))))
    data = Path(args.data) if args.data else problems_file(work, 256, seed=1)
    irm, prm = (args.irm, args.prm) if args.irm and args.prm else reward_heads(model, work)
    setup = dict(
        batch_size=args.batch_size,
        num_samples=8,
        mini_batch_size=64,
        ppo_epochs=1,
        advantage_estimator="grpo",
        max_new_tokens=args.max_new_tokens,
        bf16=torch.cuda.is_available(),
    )
    rewards = {
        "verifier": dict(reward_funcs=["verifier"]),
        "IRM x PRM x verifier": dict(reward_funcs=["irm", "prm", "verifier"], irm_path=irm, prm_path=prm),
    }
    rows = {}
    for index, (name, reward) in enumerate(rewards.items()):
        rows[name] = run(model, data, work / f"reward{index}", args.steps, **setup, **reward)
        print(table(f"reward: {name}", rows[name]), flush=True)
    base, paper = rows["verifier"], rows["IRM x PRM x verifier"]
    print(
        f"paper reward / verifier: reward phase {paper['time/reward'] / base['time/reward']:.1f}x, "
        f"step {paper['step'] / base['step']:.2f}x"
    )
    costs = term_costs(model, data, irm, prm, 8, 8, args.max_new_tokens)
    print("cost per response: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in costs.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a model folder (default: a fresh tiny model)")
    parser.add_argument("--data", help="problems JSONL (default: 256 symbolic problems)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--skip-gpu", action="store_true")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (two spin-waiting threads on a busy 2-core "
        "machine made tiny steps several times slower)",
    )
    parser.add_argument("--paper-reward", action="store_true", help="verifier vs IRM x PRM x verifier")
    parser.add_argument("--irm", help="IRM folder for --paper-reward (default: a fresh head)")
    parser.add_argument("--prm", help="PRM folder for --paper-reward (default: a fresh head)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.paper_reward:
            paper_reward_bench(args, Path(tmp))
            return 0
        cpu_bench(args, Path(tmp))
        if not args.skip_gpu:
            gpu_bench(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
