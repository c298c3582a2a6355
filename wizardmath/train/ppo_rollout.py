"""PPO's rollouts: which prompts a step samples, the responses (HF ``generate`` or colocated vLLM), their
rewards, and which groups the update learns from.

A step's prompts and sampling seed are functions of (seed, step, rank), never of global state, so a
resumed run takes exactly the step it would have taken.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from wizardmath.backends.rollout import Rollout, decode_rollout, generate_hf
from wizardmath.backends.transformers_backend import ANSWER_MARKER
from wizardmath.rewards import STEP_REWARDS, RewardFunc, RewardResult
from wizardmath.train.ppo_config import PPOConfig
from wizardmath.train.ppo_models import ActorCritic, gathered
from wizardmath.train.ppo_select import edge_groups

__all__ = [
    "Rollout",
    "VLLMRollout",
    "batch_indices",
    "generate",
    "keep_groups",
    "pad_rows",
    "place_step_rewards",
    "score",
    "select_rows",
    "step_seed",
]


def batch_indices(step: int, n: int, batch: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Prompts of ``step`` for process ``rank``: epochs are seeded permutations, so any step repeats."""
    out, start = [], (step * batch * world + rank * batch)
    for pos in range(start, start + batch):
        epoch, offset = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        out.append(int(perm[offset]))
    return out


def step_seed(config: PPOConfig, step: int, rank: int) -> int:
    """The sampling (and minibatch shuffle) seed of ``step`` on process ``rank``."""
    return config.seed * 1_000_003 + step * 7_919 + rank


def generate(
    config: PPOConfig,
    accelerator,
    model,
    tokenizer,
    prompts: list[str],
    seed: int,
    vllm: VLLMRollout | None = None,
) -> Rollout:
    """Sample one response per prompt from the current policy (vLLM gets the policy's weights first)."""
    model.eval()
    if vllm is not None:
        vllm.sync(accelerator, model)
        return vllm.generate(tokenizer, prompts, seed, accelerator.device)
    policy = accelerator.unwrap_model(model).policy
    with gathered(accelerator, policy, enabled=config.ds3_gather_for_generation):
        sampling = {"temperature": config.temperature, "top_k": config.top_k, "top_p": config.top_p}
        return generate_hf(
            policy, tokenizer, prompts, config.max_prompt_length, config.max_new_tokens, seed, sampling
        )


def score(
    config: PPOConfig,
    reward: RewardResult | RewardFunc,
    tokenizer,
    rollout: Rollout,
    columns: dict[str, list[Any]],
    device,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(batch,)`` sequence scores (a failed reward counts 0, a cut response pays ``missing_eos_penalty``)
    and the ``(batch, T)`` dense step rewards, or None without ``step_reward``. ``reward`` is the
    batch's ``RewardResult``, or a TRL-style callable that scores ``rollout.texts`` with ``columns``."""
    raw = reward.scores if isinstance(reward, RewardResult) else reward(rollout.texts, **columns)
    scores = torch.tensor([0.0 if r is None else r for r in raw], device=device)
    cut = rollout.truncated.float()
    if cut.numel() and float(cut.mean()) >= 0.9:
        warnings.warn(
            f"{float(cut.mean()):.0%} of the responses reached max_new_tokens={config.max_new_tokens} "
            "without ending: raise max_new_tokens (or check the prompt template) or the reward cannot "
            "tell responses apart",
            stacklevel=2,
        )
    if config.missing_eos_penalty is not None:
        # Only a cut response that never stated its answer pays: one that wrote "The answer is: X" and
        # ran on keeps its verifier score (a looping one gets 0 from the verifier itself).
        unanswered = torch.tensor([ANSWER_MARKER.search(t) is None for t in rollout.texts], device=device)
        scores = scores - config.missing_eos_penalty * (rollout.truncated.to(device) & unanswered).float()
    dense = None
    if config.step_reward:
        events = STEP_REWARDS[config.step_reward](rollout.texts)
        dense = config.step_reward_coef * place_step_rewards(tokenizer, rollout, events)
    return scores, dense


def keep_groups(config: PPOConfig, reward: Any, scores: torch.Tensor, seed: int) -> torch.Tensor:
    """``filter_groups``: the rows of the groups with mixed correctness (the verifier's, else score > 0.5).
    ``reward`` is the batch's ``RewardResult``, or a TRL-style reward whose last call scored it."""
    per_term = reward.per_term if isinstance(reward, RewardResult) else reward.last_terms
    verifier = per_term.get("verifier")
    if verifier is not None:
        correct = torch.tensor([float(v or 0.0) for v in verifier])
    else:
        correct = (scores > 0.5).float().cpu()
    return edge_groups(correct, config.num_samples, config.keep_easy, torch.Generator().manual_seed(seed))


def select_rows(rollout: Rollout, rows: torch.Tensor, live: torch.Tensor | None = None) -> Rollout:
    """The rollout restricted to ``rows`` (whole groups, in order); rows where ``live`` is False keep
    their tokens but get an all-zero mask (padding rows, see ``pad_rows``)."""
    on = rows.to(rollout.query.device)
    mask = rollout.mask[on]
    if live is not None:
        mask = mask * live.to(mask.device, mask.dtype)[:, None]
    return Rollout(
        rollout.query[on],
        rollout.query_mask[on],
        rollout.response[on],
        mask,
        [rollout.texts[i] for i in rows.tolist()],
        rollout.truncated[on],
    )


def pad_rows(rows: torch.Tensor, target: int, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` made ``target`` long with copies of the first group's rows, and which rows are real.

    Under several processes every rank must run the same number of micro-batches, or their gradient
    all-reduces pair up across steps (or hang). ``filter_groups`` keeps a different number of groups
    on each rank, so each pads to the most kept on any rank (``target``, a multiple of
    ``group_size``) with rows whose mask is then zeroed (``select_rows``): they add no gradient."""
    missing = target - len(rows)
    if missing < 0 or missing % group_size:
        raise ValueError(f"cannot pad {len(rows)} rows to {target} in groups of {group_size}")
    filler = torch.arange(group_size).repeat(missing // group_size)
    live = torch.cat([torch.ones(len(rows), dtype=torch.bool), torch.zeros(missing, dtype=torch.bool)])
    return torch.cat([rows.cpu(), filler]), live


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


class VLLMRollout:
    """vLLM colocated with training (CUDA only), its weights pushed from the policy before each rollout.

    Every training process runs an engine slice (``external_launcher``); with tensor parallelism the
    processes of one TP group pool their prompts, generate together, and each keeps its own share.
    """

    def __init__(self, config: PPOConfig, accelerator):
        from importlib.util import find_spec

        if find_spec("vllm") is None:
            raise ImportError(
                "rollout_backend: vllm needs vLLM: pip install 'wizardmath[vllm]' "
                "(or use rollout_backend: hf)"
            )
        if not torch.cuda.is_available():
            raise ValueError("rollout_backend: vllm needs a CUDA GPU; use rollout_backend: hf on CPU")
        from vllm import LLM

        self.config, self.tp = config, config.vllm_tensor_parallel_size
        self.group = torch.distributed.new_subgroups(group_size=self.tp)[0] if self.tp > 1 else None
        self.llm = LLM(
            model=config.model,
            gpu_memory_utilization=config.vllm_gpu_memory_utilization,
            tensor_parallel_size=self.tp,
            max_model_len=config.max_prompt_length + config.max_new_tokens,
            seed=config.seed + accelerator.process_index // self.tp,
            distributed_executor_backend="external_launcher",
            dtype="bfloat16" if config.bf16 else "auto",
        )

    def sync(self, accelerator, model: ActorCritic) -> None:
        """Load the current policy into the engine, one gathered tensor at a time (LoRA merged first)."""
        policy = accelerator.unwrap_model(model).policy
        engine = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        if self.config.use_lora:
            policy.merge_adapter()
        for name, param in policy.named_parameters():
            if "lora_" in name:
                continue
            with gathered(accelerator, params=[param]):
                plain = name.replace("base_model.model.", "").replace(".base_layer", "")  # peft's names
                engine.load_weights([(plain, param.data)])
        if self.config.use_lora:
            policy.unmerge_adapter()
        self.llm.reset_prefix_cache()

    def generate(self, tokenizer, prompts: list[str], seed: int, device) -> Rollout:
        from vllm import SamplingParams

        c = self.config
        params = SamplingParams(
            temperature=c.temperature,
            top_p=c.top_p,
            top_k=c.top_k or -1,
            max_tokens=c.max_new_tokens,
            seed=seed,
        )
        enc = tokenizer(
            prompts,
            padding=True,
            padding_side="left",
            truncation=True,
            max_length=c.max_prompt_length,
            return_tensors="pt",
        )
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
        return decode_rollout(
            tokenizer, enc["input_ids"].to(device), enc["attention_mask"].to(device), response.to(device)
        )
