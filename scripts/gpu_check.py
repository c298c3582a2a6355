"""The GPU check: every training stage once on a ~28M-parameter model, with its time, tokens/s and
peak memory.

    scripts/gpu_check.sh [--out runs/gpu_check] [--device auto|cuda|cpu]

On CUDA (one GPU, no network, <= 8 minutes on an H200): init-tiny with configs/gpu_check/tiny_model.yaml,
symbolic data, then SFT (bf16), IRM, label-prm + PRM, PPO under DeepSpeed ZeRO-2 and ZeRO-3 (one process
each, ``accelerate launch``), GRPO and eval, all on the GPU. On CPU (CI) the same stages run at the
default tiny size with a few steps each; the DeepSpeed PPO stages need CUDA and are reported as skipped
(plain PPO runs instead, so the PPO code is still exercised). Exit status 0 only when every stage that
the device allows ran; the table and ``OUT/gpu_check.json`` say what ran, how long, how fast.

tokens/s counts the token positions that went through any embedding layer (every forward pass of the
policy, reference, value and reward models, prompt and generated tokens alike) per wall-clock second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / "configs" / "gpu_check"
# CPU (CI) overrides: the tiny default model, fp32, a handful of steps per stage.
CPU = {
    "evolve": {"num_seeds": 30},
    "sft": {
        "max_steps": 8,
        "per_device_train_batch_size": 4,
        "bf16": False,
        "torch_dtype": "float32",
        "use_cpu": True,
    },
    "train-irm": {"max_steps": 3, "per_device_train_batch_size": 4, "bf16": False, "use_cpu": True},
    "label-prm": {"limit": 8, "num_samples": 2, "batch_size": 16, "max_new_tokens": 48},
    "train-prm": {"max_steps": 3, "per_device_train_batch_size": 4, "bf16": False, "use_cpu": True},
    "ppo": {
        "steps": 1,
        "batch_size": 4,
        "num_samples": 2,
        "mini_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_new_tokens": 32,
        "bf16": False,
        "eval_limit": 4,
    },
    "grpo": {
        "max_steps": 1,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 32,
        "bf16": False,
        "torch_dtype": "float32",
        "use_cpu": True,
        "eval_limit": 4,
    },
    "eval": {"dtype": "float32", "batch_size": 8, "max_new_tokens": 48, "limit": 8, "device": "cpu"},
}
TOKENS = [0]  # token positions through embedding layers in this process


def count_embedded_tokens() -> None:
    """Wrap ``nn.Embedding.forward`` so every lookup adds its number of positions to ``TOKENS``."""
    from torch import nn

    if getattr(nn.Embedding.forward, "_counts_tokens", False):
        return
    original = nn.Embedding.forward

    def forward(self, input):  # noqa: A002 (torch's own argument name)
        TOKENS[0] += input.numel()
        return original(self, input)

    forward._counts_tokens = True
    nn.Embedding.forward = forward


def reset_device_stats(cuda: bool) -> None:
    TOKENS[0] = 0
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def device_stats(cuda: bool) -> dict[str, Any]:
    if not cuda:
        return {"tokens": TOKENS[0], "peak_gib": None}
    import torch

    torch.cuda.synchronize()
    return {"tokens": TOKENS[0], "peak_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 2)}


def child(argv: list[str]) -> int:
    """``--child STAGE ARGS``: one CLI stage under ``accelerate launch``, stats written to
    $GPU_CHECK_STATS."""
    import torch

    from wizardmath.cli import main

    cuda = torch.cuda.is_available()
    count_embedded_tokens()
    reset_device_stats(cuda)
    status = main(argv)
    Path(os.environ["GPU_CHECK_STATS"]).write_text(json.dumps(device_stats(cuda)))
    return status


class Check:
    def __init__(self, out: Path, cuda: bool):
        self.out, self.cuda, self.rows = out, cuda, []

    def config(self, cls: type, file: str, stage: str, **paths: Any) -> Any:
        from wizardmath.config import load_config

        overrides = {**({} if self.cuda else CPU.get(stage, {})), **paths}
        return load_config(cls, GPU / file if file else None, **overrides)

    def run(self, stage: str, fn) -> Any:
        """Time ``fn`` in this process; record status, seconds, tokens/s and peak GPU memory."""
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)  # each stage sets up accelerate afresh
        reset_device_stats(self.cuda)
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as err:  # one failed stage must not hide the others' figures
            traceback.print_exc()
            self.rows.append(
                {"stage": stage, "status": "FAILED", "error": f"{type(err).__name__}: {err}"[:300]}
            )
            return None
        self.record(stage, time.perf_counter() - start, device_stats(self.cuda))
        return result

    def launch(self, stage: str, accelerate_config: str, argv: list[str]) -> None:
        """Run a CLI stage under ``accelerate launch`` (DeepSpeed needs its own process)."""
        stats = self.out / f"{stage}.stats.json"
        stats.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            accelerate_config,
            str(Path(__file__)),
            "--child",
            *argv,
        ]
        env = {
            **os.environ,
            "GPU_CHECK_STATS": str(stats),
            "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env)
        if done.returncode != 0 or not stats.is_file():
            self.rows.append({"stage": stage, "status": "FAILED", "error": f"exit status {done.returncode}"})
            return
        self.record(stage, time.perf_counter() - start, json.loads(stats.read_text()))

    def skip(self, stage: str, why: str) -> None:
        self.rows.append({"stage": stage, "status": "skipped", "error": why})

    def record(self, stage: str, seconds: float, stats: dict[str, Any]) -> None:
        self.rows.append(
            {
                "stage": stage,
                "status": "ok",
                "seconds": round(seconds, 1),
                "tokens_per_s": round(stats["tokens"] / seconds) if seconds > 0 else None,
                "peak_gib": stats["peak_gib"],
            }
        )

    def report(self) -> int:
        print(f"\n{'stage':<14} {'status':<8} {'seconds':>8} {'tokens/s':>10} {'peak GiB':>9}")
        for row in self.rows:
            tps, peak = row.get("tokens_per_s"), row.get("peak_gib")
            print(
                f"{row['stage']:<14} {row['status']:<8} {row.get('seconds', ''):>8} "
                f"{tps if tps is not None else '':>10} "
                f"{peak if peak is not None else '-':>9}" + (f"  {row['error']}" if row.get("error") else "")
            )
        failed = [r["stage"] for r in self.rows if r["status"] == "FAILED"]
        skipped = [r["stage"] for r in self.rows if r["status"] == "skipped"]
        (self.out / "gpu_check.json").write_text(
            json.dumps({"cuda": self.cuda, "stages": self.rows}, indent=2)
        )
        ok = not failed and (not self.cuda or not skipped)
        print(
            f"gpu check: {'PASS' if ok else 'FAIL'} on {'CUDA' if self.cuda else 'CPU'}"
            + (f"; failed: {', '.join(failed)}" if failed else "")
            + f"; details in {self.out / 'gpu_check.json'}"
        )
        return 0 if ok else 1


def prepare(check: Check) -> tuple[str, Path, Path, Path]:
    """Base model, evolved problems, SFT data and a held-out set (symbolic world: exact answers, no API)."""
    from wizardmath.evol import EvolveConfig, SolveConfig, evolve, solve
    from wizardmath.evol.symbolic import generate_problems
    from wizardmath.jsonl import write_jsonl
    from wizardmath.tiny import TinyConfig, init_tiny

    out = check.out
    model = check.config(
        TinyConfig, "tiny_model.yaml" if check.cuda else "", "init-tiny", output=str(out / "base")
    )
    check.run("init-tiny", lambda: init_tiny(model))
    test = out / "test.jsonl"
    write_jsonl(test, (p.to_dict() for p in generate_problems(200, 1_000_003, 1, 4, prefix="test")))
    from wizardmath.config import load_config

    evolve_config = load_config(
        EvolveConfig,
        REPO / "configs/tiny/evolve.yaml",
        output=str(out / "evol"),
        progress=False,
        decontaminate=[str(test)],
        **({} if check.cuda else CPU["evolve"]),
    )
    solve_config = load_config(
        SolveConfig,
        REPO / "configs/tiny/solve.yaml",
        data_path=str(out / "evol/problems.jsonl"),
        output=str(out / "solve"),
        progress=False,
    )
    check.run("data", lambda: (evolve(evolve_config), solve(solve_config)))
    return str(out / "base"), out / "evol", out / "solve/sft.jsonl", test


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/gpu_check")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    args = parser.parse_args(argv)
    os.environ.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "WANDB_MODE": "offline",
        }
    )
    import torch

    cuda = torch.cuda.is_available() if args.device == "auto" else args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("gpu check: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 2
    if not cuda:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # every stage, child processes too, stays on the CPU
        # A 0.15M-parameter model gains nothing from threads, and on a busy CI machine their spin-waits
        # made each tiny matmul take tens of milliseconds.
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    count_embedded_tokens()
    check = Check(out, cuda)
    print(
        f"gpu check on {torch.cuda.get_device_name(0) if cuda else 'CPU'}: "
        f"torch {torch.__version__}, output {out}"
    )

    from reward_models.irm import IRMConfig, train_irm
    from reward_models.labelers import LabelConfig, label_prm
    from reward_models.prm import PRMConfig, train_prm
    from wizardmath.eval import EvalConfig, evaluate
    from wizardmath.train.grpo import GRPOConfig, train_grpo
    from wizardmath.train.ppo import PPOConfig, train_ppo
    from wizardmath.train.sft import SFTConfig, train_sft

    base, evol, sft_data, test = prepare(check)
    sft = str(out / "sft")
    check.run(
        "sft",
        lambda: train_sft(
            check.config(SFTConfig, "sft.yaml", "sft", model=base, data_path=str(sft_data), output_dir=sft)
        ),
    )
    irm, prm, labels = str(out / "irm"), str(out / "prm"), str(out / "prm_labels.jsonl")
    check.run(
        "train-irm",
        lambda: train_irm(
            check.config(IRMConfig, "irm.yaml", "train-irm", model=sft, data_path=str(evol), output_dir=irm)
        ),
    )
    check.run(
        "label-prm",
        lambda: label_prm(
            check.config(
                LabelConfig,
                "label_prm.yaml",
                "label-prm",
                model=sft,
                data_path=str(evol / "problems.jsonl"),
                output=labels,
            )
        ),
    )
    check.run(
        "train-prm",
        lambda: train_prm(
            check.config(PRMConfig, "prm.yaml", "train-prm", model=sft, data_path=labels, output_dir=prm)
        ),
    )
    rl = {
        "model": sft,
        "data_path": str(evol / "problems.jsonl"),
        "eval_data_path": str(test),
        "irm_path": irm,
        "prm_path": prm,
    }
    if cuda:
        for zero in (2, 3):
            flags = [f"--{k}" if k != "data_path" else "--data_path" for k in rl]
            argv = [
                "ppo",
                "--config",
                str(GPU / "ppo.yaml"),
                *[x for k, v in zip(flags, rl.values(), strict=True) for x in (k, v)],
                "--output",
                str(out / f"ppo_zero{zero}"),
            ]
            check.launch(f"ppo-zero{zero}", str(REPO / f"configs/accelerate/gpu_check_zero{zero}.yaml"), argv)
    else:
        for zero in (2, 3):
            check.skip(f"ppo-zero{zero}", "DeepSpeed stage: needs CUDA")
        check.run(
            "ppo",
            lambda: train_ppo(check.config(PPOConfig, "ppo.yaml", "ppo", output_dir=str(out / "ppo"), **rl)),
        )
    check.run(
        "grpo",
        lambda: train_grpo(check.config(GRPOConfig, "grpo.yaml", "grpo", output_dir=str(out / "grpo"), **rl)),
    )
    check.run(
        "eval",
        lambda: evaluate(
            check.config(
                EvalConfig,
                "eval.yaml",
                "eval",
                model=sft,
                data_path=str(test),
                output=str(out / "eval"),
                name="heldout",
            )
        ),
    )
    return check.report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
