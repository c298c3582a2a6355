"""PPO of the SFT model with the RLEIF reward, readable top to bottom (the nanoGPT way).

One PPO step::

    problems  -> prompts (format_prompt "wizardmath")                        sample a batch
    policy    -> responses (HF generate, left padding, KV cache; or vLLM)      rollout      ppo_rollout
    reward    -> one score per response (wizardmath.rewards: IRM x PRM x verifier ...)
    policy, reference, value -> log-probs, ref log-probs, values            (no grad)    ppo_update
    per-token KL penalty, GAE or group-normalised scores, whitening                       ppo_core
    ppo_epochs x minibatches (x gradient accumulation): clipped policy (+ value) loss

Runs on ``accelerate``: one process on CPU, or ``accelerate launch --config_file
configs/accelerate/deepspeed_zero3.yaml -m wizardmath.cli ppo --config ...`` for DeepSpeed ZeRO-2/3,
multi-GPU and multi-node. The networks are in ``ppo_models``, the settings in ``ppo_config``, the
checkpoints and metrics in ``ppo_state``; ``wizardmath ppo --dry_run true`` prints the memory plan
(``ppo_plan``) instead of training. The final policy is saved with ``save_pretrained`` for
``wizardmath eval``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from wizardmath.train import ppo_core as core
from wizardmath.train.ppo_config import PPOConfig
from wizardmath.train.ppo_models import build_models, gathered, is_zero3, prepare_frozen, save_policy
from wizardmath.train.ppo_plan import PPOPlanConfig, memory_plan
from wizardmath.train.ppo_rollout import (
    batch_indices,
    generate,
    keep_groups,
    pad_rows,
    score,
    select_rows,
    step_seed,
)
from wizardmath.train.ppo_state import (
    STATE_FILE,
    MetricsLog,
    PPOState,
    load_checkpoint,
    reduce_metrics,
    save_checkpoint,
)
from wizardmath.train.ppo_update import (
    Experience,
    advance_schedule,
    batched_forward,
    build_optimizer,
    compute_advantages,
    ppo_update,
    warmup_scheduler,
)

__all__ = ["PPOConfig", "PPOPlanConfig", "evaluate", "ppo_command", "ppo_step", "train_ppo"]


def ppo_step(state: PPOState) -> dict[str, float]:
    """Step ``state.step``: one rollout batch, its reward, advantages and updates; returns its metrics,
    one row for all processes (``reduce_metrics``).

    Under several processes each rank samples and scores its own prompts; the advantages are
    whitened with the whole batch's statistics, every rank runs the same number of micro-batches
    (``pad_rows``) and the adaptive KL coefficient follows the all-rank KL, so it stays one value."""
    from wizardmath.data import format_prompt

    config, acc, model = state.config, state.accelerator, state.model
    advance_schedule(state.scheduler)  # warm-up: this step's learning rate (a function of the step alone)
    t0 = time.perf_counter()
    idx = batch_indices(
        state.step, len(state.train), config.batch_size, config.seed, acc.process_index, acc.num_processes
    )
    problems = [state.train[i] for i in idx for _ in range(config.num_samples)]
    prompts = [format_prompt(p.problem, config.template, state.tokenizer) for p in problems]
    seed = step_seed(config, state.step, acc.process_index)
    rollout = generate(config, acc, model, state.tokenizer, prompts, seed, state.vllm)
    t1 = time.perf_counter()
    columns = {
        "problem": [p.problem for p in problems],
        "answer": [p.answer for p in problems],
        "id": [p.id for p in problems],
        "prompts": prompts,
    }
    reward = state.reward.score(rollout.texts, **columns)  # scores, each term's values, errors
    scores, dense = score(config, reward, state.tokenizer, rollout, columns, acc.device)
    t2 = time.perf_counter()
    metrics = {
        "reward/mean": float(scores.mean()),
        "reward/std": float(scores.std()) if scores.numel() > 1 else 0.0,
        "response/length": float(rollout.mask.sum(-1).mean()),
        "response/truncated": float(rollout.truncated.float().mean()),
    }
    live = torch.ones(len(scores), dtype=torch.bool)  # rows that are responses, not padding
    if config.filter_groups:  # learn only from the groups with something to contrast
        rows = keep_groups(config, reward, scores, seed)
        metrics["filter/kept"] = len(rows) / len(scores)
        most = int(acc.gather(torch.tensor([len(rows)], device=acc.device)).max())
        if most == 0:  # nothing to learn from in this batch, on any rank
            metrics.update({"kl/mean": 0.0, "time/rollout": t1 - t0})
            return {**reduce_metrics(acc, metrics), "kl/coef": state.kl_ctl.value}
        rows, live = pad_rows(rows, most, config.num_samples)
        rollout = select_rows(rollout, rows, live)
        scores = scores[rows.to(scores.device)]
        dense = dense[rows.to(dense.device)] if dense is not None else None

    logprobs, ref_logprobs, values = batched_forward(acc.unwrap_model(model), state.ref, rollout, config)
    with torch.no_grad():
        all_sum = (lambda t: acc.reduce(t, "sum")) if acc.num_processes > 1 else None
        advantages, returns, kl = compute_advantages(
            config, scores, logprobs, ref_logprobs, values, rollout.mask, state.kl_ctl.value, dense, all_sum
        )
    batch = Experience(
        torch.cat([rollout.query, rollout.response], 1),
        torch.cat([rollout.query_mask, rollout.mask], 1).long(),
        rollout.query.shape[1],
        rollout.response,
        rollout.mask,
        logprobs,
        values,
        advantages,
        returns,
    )
    stats = ppo_update(model, state.optimizer, acc, batch, config, torch.Generator().manual_seed(seed))
    t3 = time.perf_counter()

    seq_kl = core.masked_sum(kl, rollout.mask, dim=-1)[live.to(kl.device)]
    metrics["kl/mean"] = float(seq_kl.mean())  # NaN on a rank with only padding rows: not counted
    if values is not None:
        metrics["value/explained_variance"] = core.explained_variance(values, returns, rollout.mask)
    metrics.update({"time/rollout": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2, **stats})
    if dense is not None:
        metrics[f"reward/step_{config.step_reward}"] = float(dense.sum(-1).mean())
    for name, column in reward.per_term.items():
        known = [v for v in column if v is not None]
        metrics[f"reward/{name}"] = sum(known) / len(known) if known else float("nan")
    metrics.update({f"reward/{k}_errors": float(v) for k, v in reward.errors.items() if v})
    metrics = reduce_metrics(acc, metrics)
    state.kl_ctl.update(metrics["kl/mean"], config.batch_size * config.num_samples * acc.num_processes)
    metrics["kl/coef"] = state.kl_ctl.value
    return metrics


def evaluate(state: PPOState) -> float:
    """Greedy accuracy of the current policy on the held-out problems (NaN without any), one value on
    every process, so validation and the best step chosen from it are one decision.

    Each process decodes its share (``shard``) and the correct counts are summed. Under ZeRO-3 each
    decodes every problem in lockstep instead (gathering sharded weights is a collective, so the
    processes must run the same batches) and rank 0's count is the one taken."""
    from wizardmath.distributed import shard
    from wizardmath.eval.greedy import greedy_accuracy

    config, policy, acc = state.config, state.policy, state.accelerator
    lockstep = is_zero3(acc)
    mine = state.held_out if lockstep else shard(state.held_out, acc.process_index, acc.num_processes)

    def gather():  # ZeRO-3: the whole policy on each GPU while it generates
        return gathered(acc, policy, enabled=config.ds3_gather_for_generation)

    accuracy = greedy_accuracy(
        policy, state.tokenizer, mine, config.template, config.max_new_tokens, config.max_prompt_length,
        gather=gather,
    )  # fmt: skip
    if acc.num_processes == 1:
        return accuracy
    counted = acc.is_main_process or not lockstep
    correct = round(accuracy * len(mine)) if counted and mine else 0
    totals = acc.reduce(torch.tensor([correct, len(mine) if counted else 0], device=acc.device), "sum")
    return float(totals[0]) / int(totals[1]) if int(totals[1]) else float("nan")


def train_ppo(config: PPOConfig) -> dict[str, Any]:
    """Run PPO from ``config``; returns a summary (also written to ``ppo_summary.json``).

    As the other trainers: one writer per output folder, a checkpoint is resumed only with the same
    data, model and rewards, and a run that trains 0 steps is an error, never a summary."""
    from pathlib import Path

    from wizardmath import resume as rs

    rs.check_model(config.model)
    with rs.trainer_lock(config.output_dir, "ppo"):
        outputs = ["metrics.jsonl", "ppo_summary.json"]
        resume_from = rs.start_run(config, "ppo", rs.rl_settings(config), outputs, STATE_FILE)
        start_step = rs.checkpoint_step(resume_from)
        # Killed after its last step's checkpoint, before the summary: trained, not finished yet.
        finishing = start_step == config.steps and not (Path(config.output_dir) / "ppo_summary.json").exists()
        if start_step >= config.steps and not finishing:  # nothing to do: refuse before loading weights
            rs.check_trained("ppo", config.output_dir, start_step, start_step)
        summary = _train_ppo(config, resume_from)
        if not finishing:
            rs.check_trained("ppo", config.output_dir, start_step, summary["steps"])
        return summary


def setup(config: PPOConfig, resume_from: str | None = None) -> PPOState:
    """Accelerator, models, optimizer, warm-up schedule, reward and data; resumed from ``resume_from``
    (the checkpoint ``train_ppo`` chose and guarded)."""
    from pathlib import Path

    from accelerate import Accelerator

    from wizardmath.distributed import check_world, join_deepspeed_on_cpu, start
    from wizardmath.rewards import build_reward
    from wizardmath.train.ppo_rollout import VLLMRollout
    from wizardmath.train.ppo_state import trackers_for

    # Under a launch on CPU the process group must be told it runs on the CPU (else each process runs
    # alone); Accelerator(cpu=True) would also turn DeepSpeed off, so it is told through the state.
    start(timeout=None, cpu=config.use_cpu)
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        cpu=config.use_cpu and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true",
        mixed_precision="bf16" if config.bf16 else "no",
        log_with=trackers_for(config) or None,
        project_dir=config.output_dir,
    )
    check_world(accelerator.num_processes, "ppo")
    join_deepspeed_on_cpu()  # before prepare_frozen builds the reference's DeepSpeed engine
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:  # our loop has no dataloader for accelerate to read the micro-batch size from
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = config.micro_batch_size
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)  # initialisation of the value head, before any checkpoint restores it
    train, held_out = config.train_problems(), config.held_out_problems()
    tokenizer, model, ref = build_models(config)
    model, optimizer = accelerator.prepare(model, build_optimizer(model, config))
    scheduler = warmup_scheduler(optimizer, config)  # before a checkpoint loads: base rates from the config
    if config.adaptive_kl:
        kl_ctl = core.AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
    else:
        kl_ctl = core.FixedKLController(config.kl_coef)
    state = PPOState(
        config,
        accelerator,
        model,
        prepare_frozen(accelerator, ref),
        tokenizer,
        optimizer,
        scheduler,
        kl_ctl,
        build_reward(config, config.reward_weights),
        train,
        held_out,
    )
    if resume_from is not None:
        load_checkpoint(state, Path(resume_from))
        advance_schedule(scheduler, state.step)
    if config.rollout_backend == "vllm":
        state.vllm = VLLMRollout(config, accelerator)
    return state


def _train_ppo(config: PPOConfig, resume_from: str | None) -> dict[str, Any]:
    start = time.perf_counter()
    # a resumed state holds the validation curve and the best policy so far
    state = setup(config, resume_from)
    if state.step == 0:
        state.accuracy_before = evaluate(state)
        if config.keep_best:
            state.best.offer(0, state.accuracy_before, state.policy, whole(state))
    log = MetricsLog(state)
    try:
        try:
            _train_steps(state, log, start)
        finally:
            log.close()
            state.reward.close()
        return finish(state, start)
    finally:  # after finish's collectives: accelerate's end_training also ends the process group
        state.accelerator.end_training()


def whole(state: PPOState, modifier_rank: int | None = None):
    """The policy's weights whole inside (gathered under ZeRO-3), for a copy of the best policy."""
    return lambda: gathered(state.accelerator, state.policy, modifier_rank=modifier_rank)


def on_any_rank(accelerator, flag: bool) -> bool:
    """``flag`` on any process: a decision every rank takes together (a rank that stopped or saved
    alone would leave the others waiting in a collective)."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.gather(torch.tensor([flag], device=accelerator.device)).any())


def _train_steps(state: PPOState, log: MetricsLog, start: float) -> None:
    """PPO steps until ``steps`` or ``max_minutes``: validation, metrics and checkpoints on the way."""
    config = state.config
    while state.step < config.steps:
        metrics = ppo_step(state)
        state.step += 1
        if config.eval_steps and state.step % config.eval_steps == 0 and state.step < config.steps:
            metrics["eval/accuracy"] = evaluate(state)
            if config.keep_best:
                state.best.offer(state.step, metrics["eval/accuracy"], state.policy, whole(state))
        state.last_metrics = metrics
        log.log(state.step, metrics)
        elapsed = state.elapsed + time.perf_counter() - start
        out_of_time = config.max_minutes is not None and on_any_rank(
            state.accelerator, elapsed > 60 * config.max_minutes
        )
        if (config.save_steps and state.step % config.save_steps == 0) or out_of_time:
            save_checkpoint(state, state.elapsed + time.perf_counter() - start)
        if out_of_time:
            state.accelerator.print(f"max_minutes reached: stopping at step {state.step}")
            break


def finish(state: PPOState, start: float) -> dict[str, Any]:
    """Final accuracy (the best validated step's policy with ``keep_best``), the saved policy, the summary."""
    from pathlib import Path

    from wizardmath.jsonl import write_json

    config, before, best = state.config, state.accuracy_before, state.best
    after = evaluate(state)
    if (
        config.keep_best
        and not best.offer(state.step, after, state.policy, whole(state))
        and best.state is not None
    ):
        best.restore(state.policy, whole(state, modifier_rank=0))  # an earlier step validated better
        after = best.accuracy
    save_policy(state.accelerator, state.model, state.tokenizer, config)

    def finite(x: float) -> float | None:  # no held-out set: null, not NaN (which is not JSON)
        return None if x != x else x

    seconds = state.elapsed + time.perf_counter() - start
    summary = {
        "accuracy": finite(after),
        "accuracy_before": finite(before),
        "n": len(state.held_out),
        "steps": state.step,
        "seconds": seconds,
        "final": state.last_metrics,
    }
    if config.keep_best:
        summary.update({"best_step": best.step, "last_step": state.step, "eval_curve": best.curve})
    if state.accelerator.is_main_process:
        write_json(Path(config.output_dir) / "ppo_summary.json", summary)
        state.accelerator.print(
            f"ppo: {state.step} steps, held-out accuracy {before:.3f} -> {after:.3f} "
            f"(n={len(state.held_out)}), {seconds:.0f}s; policy saved to "
            f"{config.output_dir}"
        )
    return summary


def ppo_command(config: PPOPlanConfig) -> dict[str, Any]:
    """``wizardmath ppo``: the memory plan with ``dry_run``, else ``train_ppo``."""
    if config.dry_run:
        print(memory_plan(config))
        return {"dry_run": True}
    return train_ppo(config)
