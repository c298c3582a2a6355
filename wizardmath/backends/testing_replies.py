"""What the loopback test server (``wizardmath.backends.testing``) answers and how it misbehaves:
the faults (``Fault``, ``cycle_faults``), the replies (``Reply``) and the responders (``echo``, and
``TransformersResponder``, a local causal LM)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

from wizardmath.backends.base import Prompt, prompt_text
from wizardmath.data.templates import chat_text

FAULT_KINDS = ("rate_limit", "server_error", "hang", "malformed", "truncated", "bad_request")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour; ``retry_after`` (seconds) is sent with ``rate_limit``."""

    kind: str
    retry_after: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault '{self.kind}'; valid: {', '.join(FAULT_KINDS)}")


@dataclass
class Reply:
    """A responder's answer: ``n`` texts and the token counts to report as ``usage``."""

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)


Responder = Callable[[Prompt, dict[str, Any]], Union[Reply, list[str]]]  # noqa: UP007
FaultPlan = Callable[[str, int], Union[Fault, str, None]]  # noqa: UP007


def echo(prompt: Prompt, body: dict[str, Any]) -> list[str]:
    """``n`` deterministic answers that name the prompt, the sample and the seed."""
    text = prompt_text(prompt)
    seed = body.get("seed")
    return [f"echo[{i}|{seed}]: {text}" for i in range(int(body.get("n") or 1))]


def cycle_faults(kinds: Sequence[str | Fault], attempts: int = 1) -> FaultPlan:
    """Give the k-th distinct prompt the fault ``kinds[k % len(kinds)]`` on its first ``attempts`` tries.

    With P prompts the server serves exactly P * attempts faults, whatever the arrival order.
    """
    faults = [k if isinstance(k, Fault) else Fault(k) for k in kinds]
    order: dict[str, int] = {}
    lock = threading.Lock()

    def plan(key: str, attempt: int) -> Fault | None:
        with lock:
            index = order.setdefault(key, len(order))
        return faults[index % len(faults)] if attempt < attempts else None

    return plan


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` intra-op CPU threads, then restore the previous count (None: leave as is).

    A tiny model gains nothing from threads, and on a busy 2-core machine its threads fight the
    other processes: 4 short generations took 15 s with 2 threads and 0.4 s with 1.
    """
    import torch

    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count is not None:
            torch.set_num_threads(previous)


class TransformersResponder:
    """Answers with a local causal LM (one request at a time; it is for tests, not throughput)."""

    def __init__(self, model_dir: str, device: str = "cpu", threads: int | None = 1):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
        self.device, self.threads = device, threads
        self.lock = threading.Lock()

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenizer(prompt)["input_ids"]
        # The chat template writes its own special tokens (as apply_chat_template(tokenize=True) does).
        return self.tokenizer(chat_text(prompt, self.tokenizer), add_special_tokens=False)["input_ids"]

    def __call__(self, prompt: Prompt, body: dict[str, Any]) -> Reply:
        ids = self.encode(prompt)
        n, temperature = int(body.get("n") or 1), float(body.get("temperature") or 0.0)
        sample = {"do_sample": True, "temperature": temperature, "top_p": float(body.get("top_p") or 1.0)}
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        with self.lock, torch_threads(self.threads), self.torch.no_grad():
            if body.get("seed") is not None:
                self.torch.manual_seed(int(body["seed"]))
            out = self.model.generate(
                self.torch.tensor([ids], device=self.device),
                attention_mask=self.torch.ones(1, len(ids), dtype=self.torch.long, device=self.device),
                max_new_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 16),
                num_return_sequences=n,
                pad_token_id=self.tokenizer.pad_token_id,
                **(sample if temperature > 0 else {"do_sample": False}),
            )
        texts, reasons, completion_tokens = [], [], 0
        for row in out[:, len(ids) :].tolist():
            if self.tokenizer.eos_token_id in row:
                row = row[: row.index(self.tokenizer.eos_token_id)]
            text, reason = self.tokenizer.decode(row, skip_special_tokens=True), "length"
            for s in stop:
                if s in text:
                    text, reason = text[: text.index(s)], "stop"
            if len(row) < out.shape[1] - len(ids):
                reason = "stop"
            texts.append(text)
            reasons.append(reason)
            completion_tokens += len(row)
        return Reply(texts, len(ids), completion_tokens, reasons)
