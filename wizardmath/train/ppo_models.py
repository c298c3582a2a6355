"""The networks PPO trains and how they are built, placed, gathered and saved.

The value function is a head on the policy (``value_model: shared``) or a separate critic network
(``separate``); both live in one ``ActorCritic`` so accelerate and DeepSpeed wrap a single model with a
single optimizer. With LoRA the reference is the policy with its adapters switched off, so no second
copy is held; otherwise it is a frozen copy, placed by ``prepare_frozen``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from wizardmath.train.ppo_config import PPOConfig


class ActorCritic(nn.Module):
    """The policy (a causal LM) and its value function, one module for accelerate/DeepSpeed.

    ``critic`` is None for a value head on the policy's last hidden state, or a separate backbone.
    ``forward`` returns the response tokens' logits and values for a (prompt + response) batch.
    """

    def __init__(self, policy: nn.Module, critic: nn.Module | None = None):
        super().__init__()
        self.policy, self.critic = policy, critic
        self.config = policy.config  # accelerate sizes DeepSpeed's "auto" buckets by config.hidden_size
        hidden = (critic or policy).config.hidden_size
        self.v_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, input_ids, attention_mask, prompt_len: int, with_values: bool = True):
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.policy(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=with_values and self.critic is None,
            use_cache=False,
        )
        logits = out.logits[:, prompt_len - 1 : -1]
        if not with_values:
            return logits, None
        if self.critic is None:
            hidden = out.hidden_states[-1]
        else:
            hidden = self.critic(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
            ).last_hidden_state
        values = self.v_head(hidden[:, prompt_len - 1 : -1].to(self.v_head.weight.dtype)).squeeze(-1)
        return logits, values


def build_models(config: PPOConfig):
    """Tokenizer (left padding), ``ActorCritic`` and the frozen reference (None with LoRA)."""
    from transformers import AutoModel

    from wizardmath.models import load_causal_lm, load_pretrained, load_tokenizer

    remote = config.trust_remote_code
    tokenizer = load_tokenizer(config.model, trust_remote_code=remote, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = config.load_dtype()
    if config.torch_dtype == "auto":  # follows bf16 (the recipes set it): a config means the same on any GPU
        dtype = torch.bfloat16 if config.bf16 else torch.float32
    policy = load_causal_lm(config.model, dtype=dtype, trust_remote_code=remote)
    if config.gradient_checkpointing:
        policy.gradient_checkpointing_enable()
    ref = None
    if config.use_lora:
        from peft import get_peft_model

        policy = get_peft_model(policy, config.to_peft_config())
    else:
        ref = load_causal_lm(config.ref_model or config.model, dtype=dtype, trust_remote_code=remote)
        ref = ref.requires_grad_(False).eval()
    critic = None
    if config.value_model == "separate" and config.uses_critic:  # GRPO learns no values: no critic to hold
        critic = load_pretrained(
            AutoModel, config.critic_model or config.model, dtype=dtype, trust_remote_code=remote
        )
    model = ActorCritic(policy, critic)
    if not config.uses_critic:  # GRPO: the value head gets no gradient; DDP refuses parameters left unused
        model.v_head.requires_grad_(False)
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


def is_zero3(accelerator) -> bool:
    """DeepSpeed ZeRO stage 3, which shards the parameters themselves across processes."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return plugin is not None and plugin.zero_stage == 3


def gathered(
    accelerator,
    model: nn.Module | None = None,
    params: list | None = None,
    enabled: bool = True,
    modifier_rank: int | None = None,
) -> AbstractContextManager:
    """Full weights under DeepSpeed ZeRO-3, which shards parameters: all of ``model`` (generation of a
    model that fits one GPU, a copy of the best policy), or just ``params`` (weight sync, one tensor at
    a time). Changes made inside are kept only with ``modifier_rank`` (that rank's weights are then
    sharded out again), as when the best policy is restored."""
    if not enabled or not is_zero3(accelerator):
        return nullcontext()
    import deepspeed

    chosen = params if params is not None else list(model.parameters())
    return deepspeed.zero.GatheredParameters(chosen, modifier_rank=modifier_rank)


def save_policy(accelerator, model, tokenizer, config: PPOConfig) -> None:
    """``save_pretrained`` of the policy alone (LoRA merged), loadable by ``wizardmath eval``."""
    unwrapped = accelerator.unwrap_model(model)
    state = accelerator.get_state_dict(model)  # gathers ZeRO-3 shards, onto rank 0 only (None elsewhere)
    policy = unwrapped.policy
    if config.use_lora:
        policy = policy.merge_and_unload()
        state = None
    elif state is not None:
        state = {k[len("policy.") :]: v for k, v in state.items() if k.startswith("policy.")}
    if accelerator.is_main_process:
        policy.save_pretrained(config.output_dir, state_dict=state)
        tokenizer.save_pretrained(config.output_dir)
