"""PPO of the SFT model with the RLEIF reward, readable top to bottom (the nanoGPT way).

One PPO step::

    problems  -> prompts (format_prompt "wizardmath")                        sample a batch
    policy    -> responses (HF generate, left padding, KV cache; or vLLM)      rollout
    reward    -> one score per response (wizardmath.rewards: IRM x PRM x verifier ...)
    policy, reference, value -> log-probs, ref log-probs, values            (no grad)
    per-token KL penalty, GAE, whitening (wizardmath.train.ppo_core)
    ppo_epochs x minibatches (x gradient accumulation): clipped policy + value loss

Runs on ``accelerate``: one process on CPU, or ``accelerate launch --config_file
configs/accelerate/deepspeed_zero3.yaml -m wizardmath.cli ppo --config ...`` for DeepSpeed ZeRO-2/3,
multi-GPU and multi-node. The value model is a head on the policy (``value_model: shared``) or a
separate critic network (``separate``); both live in one ``ActorCritic`` module so accelerate and
DeepSpeed wrap a single model with a single optimizer. With ``lora`` the reference is the policy
with its adapters switched off, so no second copy is held.

Checkpoints (``checkpoint-N/``: weights, optimizer, RNG states, step, KL coefficient) make a resumed
run take exactly the step it would have taken: the prompt order and the sampling seed of step N
are functions of (seed, N), not of global state. ``--dry_run`` prints the memory plan per GPU
from the model config alone. The final policy is saved with ``save_pretrained`` for ``wizardmath eval``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wizardmath.rewards import STEP_REWARDS, RewardArguments
from wizardmath.train import ppo_core as core
from wizardmath.train.ppo_select import BestPolicy, edge_groups
from wizardmath.train.rl_data import ProblemArguments


@dataclass
class PPOConfig(ProblemArguments, RewardArguments):
    """Everything a PPO run needs; YAML keys and ``--flags`` are these field names."""

    ref_model: str | None = field(default=None, metadata={"help": "Frozen reference for the KL penalty (default: model)."})
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N steps (0: only before and after training)."})
    output_dir: str = field(default="", metadata={"help": "Where checkpoints, metrics.jsonl and the final model go."})
    seed: int = field(default=0, metadata={"help": "Seed for prompt order, sampling and minibatch shuffles."})
    # rollout
    steps: int = field(default=100, metadata={"help": "PPO steps (one rollout batch and its updates each)."})
    batch_size: int = field(default=32, metadata={"help": "Prompts per step per process."})
    num_samples: int = field(default=1, metadata={"help": "Responses sampled per prompt."})
    max_prompt_length: int = field(default=512, metadata={"help": "Prompts are cut to this many tokens (from the left)."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest response."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (log-probs use the same)."})
    top_k: int = field(default=0, metadata={"help": "Top-k sampling (0: off)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling."})
    step_reward: str | None = field(default=None, metadata={"help": "Dense step reward on the tokens where a step went wrong: arithmetic (verifier claim checks) or none."})
    step_reward_coef: float = field(default=1.0, metadata={"help": "Weight of each step-reward event (arithmetic: -coef per false claim)."})
    filter_groups: bool = field(default=False, metadata={"help": "DAPO-style: learn only from groups whose verifier correctness is mixed (plus keep_easy of the all-correct ones); needs num_samples > 1."})
    keep_easy: float = field(default=0.0, metadata={"help": "filter_groups: share of all-correct groups kept."})
    keep_best: bool = field(default=False, metadata={"help": "Save the policy of the step (0 included) with the best accuracy on eval_data_path (a validation split)."})
    missing_eos_penalty: float | None = field(default=None, metadata={"help": "Subtract this from the reward of responses cut at max_new_tokens."})
    rollout_backend: str = field(default="hf", metadata={"help": "hf (transformers generate) or vllm (CUDA, colocated, weights synced each step)."})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "GPU share vLLM may take (weights + KV cache)."})
    vllm_tensor_parallel_size: int = field(default=1, metadata={"help": "GPUs one vLLM engine spans (70B: 8)."})
    ds3_gather_for_generation: bool = field(default=True, metadata={"help": "ZeRO-3 + hf rollouts: gather the policy on each GPU to generate (off: slow, for models that do not fit one GPU)."})
    # PPO
    ppo_epochs: int = field(default=2, metadata={"help": "Passes over each rollout batch."})
    mini_batch_size: int = field(default=16, metadata={"help": "Responses per optimizer step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per minibatch (mini_batch_size is split)."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Policy learning rate (AdamW)."})
    value_learning_rate: float | None = field(default=None, metadata={"help": "Value head / critic learning rate (default: learning_rate)."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear learning-rate warm-up, in PPO steps."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping."})
    advantage_estimator: str = field(default="gae", metadata={"help": "gae (critic) or grpo (group-normalised scores, needs num_samples > 1)."})
    gamma: float = field(default=1.0, metadata={"help": "Discount."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    cliprange: float = field(default=0.2, metadata={"help": "Policy ratio clip."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value clip around the rollout's values."})
    vf_coef: float = field(default=0.1, metadata={"help": "Value loss weight."})
    entropy_coef: float = field(default=0.0, metadata={"help": "Entropy bonus weight."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Normalise advantages per batch."})
    kl_coef: float = field(default=0.05, metadata={"help": "Per-token KL penalty coefficient (initial value if adaptive)."})
    kl_estimator: str = field(default="k1", metadata={"help": "KL estimator in the reward: k1, abs, k2, k3."})
    adaptive_kl: bool = field(default=False, metadata={"help": "Adapt kl_coef so the KL tracks kl_target (Ziegler et al.)."})
    kl_target: float = field(default=6.0, metadata={"help": "Adaptive KL target (nats per response)."})
    kl_horizon: int = field(default=10000, metadata={"help": "Adaptive KL horizon."})
    # models
    value_model: str = field(default="shared", metadata={"help": "shared (value head on the policy) or separate (critic network)."})
    critic_model: str | None = field(default=None, metadata={"help": "Critic backbone for value_model separate (default: model)."})
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft); the reference is the adapter-free policy."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], metadata={"help": "LoRA modules."})
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed precision (GPUs that have it)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for activation memory."})
    # bookkeeping
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N steps (0: only at the end)."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept."})
    resume: bool = field(default=True, metadata={"help": "Resume from the last checkpoint in output_dir."})
    max_minutes: float | None = field(default=None, metadata={"help": "Stop (and save) after this much wall time."})
    report_to: str = field(default="wandb", metadata={"help": "wandb (offline unless WANDB_MODE says otherwise) or none."})
    reward_weights: list[float] | None = field(default=None, metadata={"help": "weighted_sum: one weight per reward_funcs entry."})
    dry_run: bool = field(default=False, metadata={"help": "Print the per-GPU memory plan from the model config and exit."})
    num_gpus: int = field(default=1, metadata={"help": "dry_run: GPUs to plan for (a real run takes them from accelerate)."})
    zero_stage: int = field(default=0, metadata={"help": "dry_run: DeepSpeed ZeRO stage to plan for (0-3)."})
    offload_optimizer: bool = field(default=False, metadata={"help": "dry_run: optimizer states offloaded to CPU."})

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("ppo needs --model (the SFT model folder, e.g. runs/tiny/sft)")
        self.validate_rewards(self.reward_weights)
        choices = {"rollout_backend": ("hf", "vllm"), "value_model": ("shared", "separate"),
                   "advantage_estimator": core.ADVANTAGE_ESTIMATORS, "kl_estimator": tuple(core.KL_ESTIMATORS)}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} '{getattr(self, name)}'; valid: {', '.join(valid)}")
        if self.step_reward is not None and self.step_reward not in STEP_REWARDS:
            raise ValueError(f"unknown step_reward '{self.step_reward}'; valid: {', '.join(STEP_REWARDS)}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0-3, got {self.zero_stage}")
        if self.dry_run:
            return
        if not self.output_dir:
            raise ValueError("ppo needs --output DIR (alias of --output_dir): checkpoints and the final model go there")
        if self.dataset == "jsonl" and not self.data_path:
            raise ValueError("ppo needs problems: set --data_path FILE.jsonl (problem/answer/id lines)")
        rollout = self.batch_size * self.num_samples
        if rollout % self.mini_batch_size or self.mini_batch_size % self.gradient_accumulation_steps:
            raise ValueError(
                f"batch_size x num_samples ({rollout}) must be a multiple of mini_batch_size ({self.mini_batch_size}), "
                f"and mini_batch_size of gradient_accumulation_steps ({self.gradient_accumulation_steps})"
            )
        if self.filter_groups and self.num_samples < 2:
            raise ValueError("filter_groups compares samples of one prompt: set num_samples >= 2")
        if self.advantage_estimator == "grpo" and self.num_samples < 2:
            raise ValueError("advantage_estimator grpo compares samples of one prompt: set num_samples >= 2")


# ----------------------------------------------------------------------------- models


class ActorCritic(nn.Module):
    """The policy (a causal LM) and its value function, one module for accelerate/DeepSpeed.

    ``critic`` is None for a value head on the policy's last hidden state, or a separate backbone.
    ``forward`` returns the response tokens' logits and values for a (prompt + response) batch.
    """

    def __init__(self, policy: nn.Module, critic: nn.Module | None = None):
        super().__init__()
        self.policy, self.critic = policy, critic
        self.config = policy.config  # accelerate fills DeepSpeed's "auto" bucket sizes from model.config.hidden_size
        hidden = (critic or policy).config.hidden_size
        self.v_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, input_ids, attention_mask, prompt_len: int, with_values: bool = True):
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                          output_hidden_states=with_values and self.critic is None, use_cache=False)
        logits = out.logits[:, prompt_len - 1 : -1]
        if not with_values:
            return logits, None
        if self.critic is None:
            hidden = out.hidden_states[-1]
        else:
            hidden = self.critic(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
        values = self.v_head(hidden[:, prompt_len - 1 : -1].to(self.v_head.weight.dtype)).squeeze(-1)
        return logits, values


def build_models(config: PPOConfig):
    """Tokenizer (left padding), ``ActorCritic`` and the frozen reference (None with LoRA)."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(config.model, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    policy = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)
    if config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    ref = None
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
        policy = get_peft_model(policy, lora)
    else:
        ref = AutoModelForCausalLM.from_pretrained(config.ref_model or config.model, dtype=dtype).requires_grad_(False).eval()
    critic = AutoModel.from_pretrained(config.critic_model or config.model, dtype=dtype) if config.value_model == "separate" else None
    model = ActorCritic(policy, critic)
    for module in model.modules():  # PPO's ratios assume the same network at rollout and update time
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return tokenizer, model, ref


def prepare_frozen(accelerator, model: nn.Module | None):
    """Place the frozen reference: a ZeRO-3 inference engine under DeepSpeed stage 3, else the device."""
    if model is None:
        return None
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return model.to(accelerator.device)
    import deepspeed

    ds = {k: v for k, v in plugin.deepspeed_config.items() if k not in ("optimizer", "scheduler")}
    if ds.get("zero_optimization", {}).get("stage") != 3:
        ds["zero_optimization"] = {"stage": 0}
    engine = deepspeed.initialize(model=model, config=ds)[0]
    engine.eval()  # DeepSpeedEngine.eval() returns None, unlike nn.Module.eval()
    return engine


def gathered(accelerator, model: nn.Module | None = None, params: list | None = None, enabled: bool = True):
    """Full weights under DeepSpeed ZeRO-3, which shards parameters: all of ``model`` (generation of a
    model that fits one GPU), or just ``params`` (weight sync, one tensor at a time)."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if not enabled or plugin is None or plugin.zero_stage != 3:
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(params if params is not None else list(model.parameters()))


# ----------------------------------------------------------------------------- rollouts


@dataclass
class Rollout:
    """One batch of prompts and sampled responses; tensors ``(batch, prompt_len)`` / ``(batch, T)``."""

    query: torch.Tensor
    query_mask: torch.Tensor
    response: torch.Tensor
    mask: torch.Tensor  # 1 up to and including the first EOS
    texts: list[str]
    truncated: torch.Tensor  # (batch,) no EOS within max_new_tokens


def response_mask(response: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of real response tokens (through the first EOS) and whether each row never ended."""
    is_eos = response == eos_id
    before_end = (is_eos.cumsum(-1) - is_eos.long()) == 0
    return before_end.float(), ~is_eos.any(-1)


@torch.no_grad()
def generate_hf(policy, tokenizer, prompts: list[str], max_prompt_length: int, max_new_tokens: int, seed: int,
                sampling: dict[str, Any] | None = None) -> Rollout:
    """Batched ``generate`` (left padding, KV cache) under a per-step seed; ``sampling=None`` is greedy."""
    device = next(policy.parameters()).device
    enc = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left", truncation=True,
                    max_length=max_prompt_length).to(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # seeded per step, global RNG state untouched afterwards
        torch.manual_seed(seed)
        out = policy.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.eos_token_id, use_cache=True,
                              **({"do_sample": True, **sampling} if sampling else {"do_sample": False}))
    response = out[:, enc["input_ids"].shape[1] :]
    return _rollout(tokenizer, enc["input_ids"], enc["attention_mask"], response)


def select_rows(rollout: Rollout, rows: torch.Tensor) -> Rollout:
    """The rollout restricted to ``rows`` (whole groups, in order)."""
    on = rows.to(rollout.query.device)
    return Rollout(rollout.query[on], rollout.query_mask[on], rollout.response[on], rollout.mask[on],
                   [rollout.texts[i] for i in rows.tolist()], rollout.truncated[on])


def _rollout(tokenizer, query, query_mask, response) -> Rollout:
    mask, truncated = response_mask(response, tokenizer.eos_token_id)
    response = torch.where(mask.bool(), response, torch.full_like(response, tokenizer.pad_token_id))
    texts = tokenizer.batch_decode(response, skip_special_tokens=True)
    return Rollout(query, query_mask, response, mask, texts, truncated)


class VLLMRollout:
    """vLLM colocated with training (CUDA only), its weights pushed from the policy before each rollout.

    Every training process runs an engine slice (``external_launcher``); with tensor parallelism the
    processes of one TP group pool their prompts, generate together, and each keeps its own share.
    """

    def __init__(self, config: PPOConfig, accelerator):
        from importlib.util import find_spec

        if find_spec("vllm") is None:
            raise ImportError("rollout_backend: vllm needs vLLM: pip install 'wizardmath[vllm]' (or use rollout_backend: hf)")
        if not torch.cuda.is_available():
            raise ValueError("rollout_backend: vllm needs a CUDA GPU; use rollout_backend: hf on CPU")
        from vllm import LLM

        self.config, self.tp = config, config.vllm_tensor_parallel_size
        self.group = torch.distributed.new_subgroups(group_size=self.tp)[0] if self.tp > 1 else None
        self.llm = LLM(model=config.model, gpu_memory_utilization=config.vllm_gpu_memory_utilization, tensor_parallel_size=self.tp,
                       max_model_len=config.max_prompt_length + config.max_new_tokens, seed=config.seed + accelerator.process_index // self.tp,
                       distributed_executor_backend="external_launcher", dtype="bfloat16" if config.bf16 else "auto")

    def sync(self, accelerator, model: ActorCritic) -> None:
        """Load the current policy into the engine, one gathered tensor at a time (LoRA merged first)."""
        policy = accelerator.unwrap_model(model).policy
        engine = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        if self.config.lora:
            policy.merge_adapter()
        for name, param in policy.named_parameters():
            if "lora_" in name:
                continue
            with gathered(accelerator, params=[param]):
                engine.load_weights([(name.replace("base_model.model.", "").replace(".base_layer", ""), param.data)])
        if self.config.lora:
            policy.unmerge_adapter()
        self.llm.reset_prefix_cache()

    def generate(self, tokenizer, prompts: list[str], seed: int, device) -> Rollout:
        from vllm import SamplingParams

        c = self.config
        params = SamplingParams(temperature=c.temperature, top_p=c.top_p, top_k=c.top_k or -1, max_tokens=c.max_new_tokens, seed=seed)
        enc = tokenizer(prompts, padding=True, padding_side="left", truncation=True, max_length=c.max_prompt_length, return_tensors="pt")
        ids = [row[m.bool()].tolist() for row, m in zip(enc["input_ids"], enc["attention_mask"], strict=True)]
        everyone = ids
        if self.group is not None:  # the TP group generates all its members' prompts together
            parts = [None] * self.tp
            torch.distributed.all_gather_object(parts, ids, group=self.group)
            everyone = [x for part in parts for x in part]
        outs = self.llm.generate([{"prompt_token_ids": i} for i in everyone], params, use_tqdm=False)
        if self.group is not None:
            mine = torch.distributed.get_rank(self.group) * len(ids)
            outs = outs[mine : mine + len(ids)]
        tokens = [list(o.outputs[0].token_ids) or [tokenizer.eos_token_id] for o in outs]
        width = max(map(len, tokens))
        response = torch.tensor([t + [tokenizer.pad_token_id] * (width - len(t)) for t in tokens])
        return _rollout(tokenizer, enc["input_ids"].to(device), enc["attention_mask"].to(device), response.to(device))


# ----------------------------------------------------------------------------- scoring and advantages


def batched_forward(model, ref, rollout: Rollout, config: PPOConfig, micro: int, use_adapter_ref: bool):
    """Log-probs of the sampled tokens under the policy and the reference, and values: ``(batch, T)``."""
    seq = torch.cat([rollout.query, rollout.response], 1)
    attn = torch.cat([rollout.query_mask, rollout.mask], 1).long()
    plen = rollout.query.shape[1]
    logprobs, ref_logprobs, values = [], [], []
    for i in range(0, len(seq), micro):
        s, a, r = seq[i : i + micro], attn[i : i + micro], rollout.response[i : i + micro]
        logits, v = model(s, a, plen)
        logprobs.append(core.logprobs_from_logits(logits / config.temperature, r))
        values.append(v.float())
        if use_adapter_ref:  # LoRA: the reference is the same network with adapters off
            with model.policy.disable_adapter():
                ref_logits, _ = model(s, a, plen, with_values=False)
        else:
            pos = (a.cumsum(-1) - 1).clamp(min=0)
            ref_logits = ref(input_ids=s, attention_mask=a, position_ids=pos, use_cache=False).logits[:, plen - 1 : -1]
        ref_logprobs.append(core.logprobs_from_logits(ref_logits / config.temperature, r))
    return torch.cat(logprobs), torch.cat(ref_logprobs), torch.cat(values)


def token_index(tokenizer, response: list[int], char: int) -> int:
    """Index of the response token whose decoded text holds character ``char - 1`` (the event's last
    character): the fewest tokens whose decoded prefix reaches ``char`` characters (binary search)."""
    lo, hi = 1, len(response)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tokenizer.decode(response[:mid], skip_special_tokens=True)) >= char:
            hi = mid
        else:
            lo = mid + 1
    return max(lo - 1, 0)


def place_step_rewards(tokenizer, rollout: Rollout, events: list[list[tuple[int, float]]]) -> torch.Tensor:
    """``(batch, T)`` rewards: each ``(character offset, value)`` event on the token that holds it."""
    dense = torch.zeros_like(rollout.mask)
    lengths = rollout.mask.sum(-1).long().tolist()
    for row, row_events in enumerate(events):
        if not row_events or lengths[row] == 0:
            continue
        ids = rollout.response[row, : lengths[row]].tolist()
        for char, value in row_events:
            dense[row, token_index(tokenizer, ids, char)] += value
    return dense


def compute_advantages(config: PPOConfig, scores, logprobs, ref_logprobs, values, mask, kl_coef: float, dense=None):
    """Per-token KL penalty (and step rewards), then GAE (or group-normalised scores) and whitening."""
    kl = core.kl_penalty(logprobs, ref_logprobs, config.kl_estimator)
    rewards = core.token_rewards(scores, kl, mask, kl_coef, dense)
    if config.advantage_estimator == "gae":
        advantages, returns = core.gae(rewards, values, mask, config.gamma, config.lam)
    else:
        shaped = (rewards * mask).sum(-1)  # the score minus the response's KL penalty
        advantages, returns = core.group_advantages(shaped, config.num_samples, mask)
    if config.whiten_advantages:
        advantages = core.masked_whiten(advantages, mask)
    return advantages, returns, kl


# ----------------------------------------------------------------------------- the update


def ppo_update(model, optimizer, accelerator, batch: dict[str, torch.Tensor], config: PPOConfig, gen: torch.Generator):
    """``ppo_epochs`` passes of shuffled minibatches; returns the mean of each loss statistic."""
    n, plen = len(batch["seq"]), batch["plen"]
    micro = config.mini_batch_size // config.gradient_accumulation_steps
    stats: dict[str, list[float]] = {}
    model.train()
    for _ in range(config.ppo_epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, micro):
            idx = order[start : start + micro].to(batch["seq"].device)
            mask = batch["mask"][idx]
            with accelerator.accumulate(model):
                logits, values = model(batch["seq"][idx], batch["attn"][idx], plen)
                logprobs = core.logprobs_from_logits(logits / config.temperature, batch["response"][idx])
                pg_loss, pg = core.policy_loss(logprobs, batch["logprobs"][idx], batch["advantages"][idx], mask, config.cliprange)
                vf_loss, vf = core.value_loss(values.float(), batch["values"][idx], batch["returns"][idx], mask, config.cliprange_value)
                entropy = core.masked_mean(core.entropy_from_logits(logits), mask)
                loss = pg_loss + config.vf_coef * vf_loss - config.entropy_coef * entropy
                if config.advantage_estimator == "grpo":
                    loss = pg_loss - config.entropy_coef * entropy
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            for key, value in {"loss/policy": pg_loss, "loss/value": vf_loss, "policy/entropy": entropy,
                               "policy/clipfrac": pg["clipfrac"], "policy/approx_kl": pg["approx_kl"],
                               "value/clipfrac": vf["clipfrac"]}.items():
                stats.setdefault(key, []).append(float(value.detach()) if torch.is_tensor(value) else float(value))
    return {k: sum(v) / len(v) for k, v in stats.items()}


# ----------------------------------------------------------------------------- data, eval, checkpoints


def batch_indices(step: int, n: int, batch: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Prompts of ``step`` for process ``rank``: epochs are seeded permutations, so any step is reproducible."""
    out, start = [], (step * batch * world + rank * batch)
    for pos in range(start, start + batch):
        epoch, offset = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        out.append(int(perm[offset]))
    return out


@torch.no_grad()
def greedy_accuracy(policy, tokenizer, problems, template: str = "wizardmath", max_new_tokens: int = 256,
                    max_prompt_length: int = 1024, batch: int = 64, gather=nullcontext) -> float:
    """Greedy accuracy on held-out problems (what ``wizardmath eval`` reports), for before/after figures."""
    from wizardmath.data import format_prompt
    from wizardmath.verify import verify_batch

    if not problems:
        return float("nan")
    was_training, correct = policy.training, 0
    policy.eval()
    for i in range(0, len(problems), batch):
        chunk = problems[i : i + batch]
        prompts = [format_prompt(p.problem, template, tokenizer) for p in chunk]
        with gather():
            texts = generate_hf(policy, tokenizer, prompts, max_prompt_length, max_new_tokens, seed=0).texts
        correct += sum(verify_batch([(p.answer or "", t) for p, t in zip(chunk, texts, strict=True)], workers=1))
    policy.train(was_training)
    return correct / len(problems)


def evaluate(model, tokenizer, problems, config: PPOConfig, accelerator) -> float:
    policy = accelerator.unwrap_model(model).policy
    return greedy_accuracy(policy, tokenizer, problems, config.template, config.max_new_tokens,
                           config.max_prompt_length, gather=lambda: gathered(accelerator, policy, enabled=config.ds3_gather_for_generation))


def last_checkpoint(output_dir: str) -> Path | None:
    """Newest ``checkpoint-N`` whose ``ppo_state.json`` was written (it is written last)."""
    found = []
    for path in Path(output_dir).glob("checkpoint-*"):
        if path.name.split("-")[-1].isdigit() and (path / "ppo_state.json").is_file():
            found.append((int(path.name.split("-")[-1]), path))
    return max(found)[1] if found else None


def save_checkpoint(accelerator, config: PPOConfig, step: int, kl_ctl, elapsed: float, before: float) -> None:
    path = Path(config.output_dir) / f"checkpoint-{step}"
    accelerator.save_state(str(path), safe_serialization=False)
    if accelerator.is_main_process:
        state = {"step": step, "kl_ctl": kl_ctl.state_dict(), "elapsed": elapsed, "accuracy_before": before}
        (path / "ppo_state.json").write_text(json.dumps(state))
        kept = sorted(Path(config.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        for old in kept[: -config.save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def save_policy(accelerator, model, tokenizer, config: PPOConfig) -> None:
    """``save_pretrained`` of the policy alone (LoRA merged), loadable by ``wizardmath eval``."""
    unwrapped = accelerator.unwrap_model(model)
    state = accelerator.get_state_dict(model)  # gathers ZeRO-3 shards
    policy = unwrapped.policy
    if config.lora:
        policy = policy.merge_and_unload()
        state = None
    else:
        state = {k[len("policy."):]: v for k, v in state.items() if k.startswith("policy.")}
    if accelerator.is_main_process:
        policy.save_pretrained(config.output_dir, state_dict=state)
        tokenizer.save_pretrained(config.output_dir)


class Logger:
    """metrics.jsonl (append-only, survives resume), wandb (lazy, offline by default) and the progress bar."""

    def __init__(self, config: PPOConfig, accelerator, start_step: int):
        from tqdm.auto import tqdm

        self.main = accelerator.is_main_process
        self.path = Path(config.output_dir) / "metrics.jsonl"
        self.bar = tqdm(total=config.steps, initial=start_step, desc="ppo", disable=not self.main, dynamic_ncols=True)
        self.run = None
        if self.main and config.report_to == "wandb":
            try:
                import wandb

                os.environ.setdefault("WANDB_MODE", "offline")
                self.run = wandb.init(project="wizardmath", name=Path(config.output_dir).name, dir=config.output_dir,
                                      config={k: v for k, v in vars(config).items() if k != "dry_run"}, resume="allow")
            except Exception as err:  # noqa: BLE001 (logging must not stop training)
                print(f"wandb disabled: {err}")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.main:
            return
        from wizardmath.jsonl import JsonlWriter

        with JsonlWriter(self.path) as out:
            out.write({"step": step, **metrics})
        if self.run is not None:
            self.run.log(metrics, step=step)
        self.bar.update(1)
        acc = metrics.get("reward/verifier", float("nan"))
        self.bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}", kl=f"{metrics['kl/mean']:.3f}", acc=f"{acc:.2f}")

    def close(self) -> None:
        self.bar.close()
        if self.run is not None:
            self.run.finish()


# ----------------------------------------------------------------------------- the loop


def _optimizer(model: ActorCritic, config: PPOConfig) -> torch.optim.Optimizer:
    value_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("policy.")]
    policy_params = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("policy.")]
    groups = [{"params": policy_params, "lr": config.learning_rate, "base_lr": config.learning_rate},
              {"params": value_params, "lr": config.value_learning_rate or config.learning_rate,
               "base_lr": config.value_learning_rate or config.learning_rate}]
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def ppo_step(step: int, ctx: dict[str, Any], config: PPOConfig) -> dict[str, float]:
    """One rollout batch, its reward, advantages and updates; returns the step's metrics."""
    from wizardmath.data import format_prompt

    acc, model, tokenizer = ctx["accelerator"], ctx["model"], ctx["tokenizer"]
    t0 = time.perf_counter()
    idx = batch_indices(step, len(ctx["train"]), config.batch_size, config.seed, acc.process_index, acc.num_processes)
    problems = [ctx["train"][i] for i in idx for _ in range(config.num_samples)]
    prompts = [format_prompt(p.problem, config.template, tokenizer) for p in problems]
    seed = config.seed * 1_000_003 + step * 7_919 + acc.process_index
    model.eval()
    if ctx["vllm"] is not None:
        ctx["vllm"].sync(acc, model)
        rollout = ctx["vllm"].generate(tokenizer, prompts, seed, acc.device)
    else:
        policy = acc.unwrap_model(model).policy
        with gathered(acc, policy, enabled=config.ds3_gather_for_generation):
            sampling = {"temperature": config.temperature, "top_k": config.top_k, "top_p": config.top_p}
            rollout = generate_hf(policy, tokenizer, prompts, config.max_prompt_length, config.max_new_tokens, seed, sampling)
    t1 = time.perf_counter()
    columns = {"problem": [p.problem for p in problems], "answer": [p.answer for p in problems],
               "id": [p.id for p in problems], "prompts": prompts}
    raw = ctx["reward"](rollout.texts, **columns)
    scores = torch.tensor([0.0 if r is None else r for r in raw], device=acc.device)
    if config.missing_eos_penalty is not None:
        scores = scores - config.missing_eos_penalty * rollout.truncated.float()
    dense = None
    if config.step_reward:
        events = STEP_REWARDS[config.step_reward](rollout.texts)
        dense = config.step_reward_coef * place_step_rewards(tokenizer, rollout, events)
    t2 = time.perf_counter()
    full = {"reward/mean": float(scores.mean()), "response/length": float(rollout.mask.sum(-1).mean()),
            "response/truncated": float(rollout.truncated.float().mean())}
    if config.filter_groups:
        verifier = ctx["reward"].last_terms.get("verifier")
        correct = (torch.tensor([float(v or 0.0) for v in verifier]) if verifier is not None else (scores > 0.5).float().cpu())
        rows = edge_groups(correct, config.num_samples, config.keep_easy, torch.Generator().manual_seed(seed))
        full["filter/kept"] = len(rows) / len(scores)
        if len(rows) == 0:  # nothing to learn from in this batch
            return {**full, "kl/mean": 0.0, "kl/coef": ctx["kl_ctl"].value, "time/rollout": t1 - t0}
        rollout = select_rows(rollout, rows)
        scores, dense = scores[rows.to(scores.device)], (dense[rows.to(dense.device)] if dense is not None else None)
    with torch.no_grad():
        micro = config.mini_batch_size // config.gradient_accumulation_steps
        logprobs, ref_logprobs, values = batched_forward(acc.unwrap_model(model), ctx["ref"], rollout, config, micro, config.lora)
        advantages, returns, kl = compute_advantages(config, scores, logprobs, ref_logprobs, values, rollout.mask, ctx["kl_ctl"].value, dense)
    for group in ctx["optimizer"].param_groups:  # linear warm-up, then constant
        group["lr"] = group["base_lr"] * min(1.0, (step + 1) / max(1, config.warmup_steps))
    batch = {"seq": torch.cat([rollout.query, rollout.response], 1), "attn": torch.cat([rollout.query_mask, rollout.mask], 1).long(),
             "plen": rollout.query.shape[1], "response": rollout.response, "mask": rollout.mask, "logprobs": logprobs,
             "values": values, "advantages": advantages, "returns": returns}
    gen = torch.Generator().manual_seed(seed)
    stats = ppo_update(model, ctx["optimizer"], acc, batch, config, gen)
    t3 = time.perf_counter()
    seq_kl = core.masked_sum(kl, rollout.mask, dim=-1)
    ctx["kl_ctl"].update(float(seq_kl.mean()), config.batch_size * config.num_samples)
    metrics = {**full, "kl/mean": float(seq_kl.mean()), "kl/coef": ctx["kl_ctl"].value,
               "value/explained_variance": core.explained_variance(values, returns, rollout.mask),
               "time/rollout": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2, **stats}
    if dense is not None:
        metrics[f"reward/step_{config.step_reward}"] = float(dense.sum(-1).mean())
    for name, column in ctx["reward"].last_terms.items():
        known = [v for v in column if v is not None]
        metrics[f"reward/{name}"] = sum(known) / len(known) if known else float("nan")
    metrics.update({f"reward/{k}_errors": float(v) for k, v in ctx["reward"].last_errors.items() if v})
    return metrics


def train_ppo(config: PPOConfig) -> dict[str, Any]:
    """Run PPO from ``config`` (or print the memory plan with ``dry_run``); returns a summary.

    As the other trainers: one writer per output folder, a checkpoint is resumed only with the same
    data, model and rewards, and a run that trains 0 steps is an error, never a summary."""
    if config.dry_run:
        from wizardmath.train.ppo_plan import memory_plan

        print(memory_plan(config))
        return {"dry_run": True}
    from wizardmath import runstate as rs

    rs.check_model(config.model)
    with rs.trainer_lock(config.output_dir, "ppo"):
        resume_from = last_checkpoint(config.output_dir) if config.resume and not config.overwrite else None
        rs.guard_resume(config.output_dir, "ppo", rs.rl_settings(config), resume_from and str(resume_from),
                        config.overwrite, ["metrics.jsonl", "ppo_summary.json"])
        start_step = rs.checkpoint_step(resume_from)
        if start_step >= config.steps:  # the loop would not run: refuse before loading any weights
            rs.check_trained("ppo", config.output_dir, start_step, start_step)
        summary = _train_ppo(config)
        rs.check_trained("ppo", config.output_dir, start_step, summary["steps"])
        return summary


def _train_ppo(config: PPOConfig) -> dict[str, Any]:
    from accelerate import Accelerator

    from wizardmath.rewards import build_reward

    start = time.perf_counter()
    accelerator = Accelerator(gradient_accumulation_steps=config.gradient_accumulation_steps, mixed_precision="bf16" if config.bf16 else "no")
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:  # our loop has no dataloader for accelerate to read the micro-batch size from
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = config.mini_batch_size // config.gradient_accumulation_steps
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)  # initialisation of the value head, before any checkpoint restores it
    train, held_out = config.train_problems(), config.held_out_problems()
    tokenizer, model, ref = build_models(config)
    optimizer = _optimizer(model, config)
    model, optimizer = accelerator.prepare(model, optimizer)
    ref = prepare_frozen(accelerator, ref)
    kl_ctl = (core.AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon) if config.adaptive_kl
              else core.FixedKLController(config.kl_coef))
    step, elapsed, before = 0, 0.0, float("nan")
    resume_from = last_checkpoint(config.output_dir) if config.resume else None
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = json.loads((resume_from / "ppo_state.json").read_text())
        step, elapsed, before = state["step"], state["elapsed"], state.get("accuracy_before", float("nan"))
        kl_ctl.load_state_dict(state["kl_ctl"])
        accelerator.print(f"resumed from {resume_from} at step {step}")
    ctx = {"accelerator": accelerator, "model": model, "ref": ref, "tokenizer": tokenizer, "optimizer": optimizer,
           "train": train, "kl_ctl": kl_ctl, "reward": build_reward(config, config.reward_weights),
           "vllm": VLLMRollout(config, accelerator) if config.rollout_backend == "vllm" else None}
    best = BestPolicy()
    policy_of = lambda: accelerator.unwrap_model(model).policy  # noqa: E731
    if step == 0:
        before = evaluate(model, tokenizer, held_out, config, accelerator)
        if config.keep_best:
            best.offer(0, before, policy_of())
    logger = Logger(config, accelerator, step)
    metrics: dict[str, float] = {}
    try:
        while step < config.steps:
            metrics = ppo_step(step, ctx, config)
            step += 1
            if config.eval_steps and step % config.eval_steps == 0 and step < config.steps:
                metrics["eval/accuracy"] = evaluate(model, tokenizer, held_out, config, accelerator)
                if config.keep_best:
                    best.offer(step, metrics["eval/accuracy"], policy_of())
            logger.log(step, metrics)
            out_of_time = config.max_minutes is not None and elapsed + time.perf_counter() - start > 60 * config.max_minutes
            if (config.save_steps and step % config.save_steps == 0) or out_of_time:
                save_checkpoint(accelerator, config, step, kl_ctl, elapsed + time.perf_counter() - start, before)
            if out_of_time:
                accelerator.print(f"max_minutes reached: stopping at step {step}")
                break
    finally:
        logger.close()
        ctx["reward"].close()
    after, last_step = evaluate(model, tokenizer, held_out, config, accelerator), step
    if config.keep_best and not best.offer(step, after, policy_of()) and best.state is not None:
        best.restore(policy_of())  # an earlier step validated better: that policy is the result
        after = best.accuracy
    save_policy(accelerator, model, tokenizer, config)
    def finite(x: float) -> float | None:  # no held-out set: null, not NaN (which is not JSON)
        return None if x != x else x

    summary = {"accuracy": finite(after), "accuracy_before": finite(before), "n": len(held_out), "steps": step,
               "seconds": elapsed + time.perf_counter() - start, "final": metrics}
    if config.keep_best:
        summary.update({"best_step": best.step, "last_step": last_step, "eval_curve": best.curve})
    if accelerator.is_main_process:
        from wizardmath.jsonl import write_json

        write_json(Path(config.output_dir) / "ppo_summary.json", summary)
        accelerator.print(f"ppo: {step} steps, held-out accuracy {before:.3f} -> {after:.3f} (n={len(held_out)}), "
                          f"{summary['seconds']:.0f}s; policy saved to {config.output_dir}")
    return summary
