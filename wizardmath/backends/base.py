"""One protocol for every text generator: OpenAI-compatible servers, local transformers, vLLM, the
symbolic world and test fakes.

``generate(prompts, sampling) -> list[list[Generation]]``: for each prompt, ``sampling.n`` results.
A prompt is a plain string (completion-style) or a list of chat messages
(``[{"role": "user", "content": ...}]``); backends that only do one kind convert the other.

Every backend also has ``agenerate(prompts, sampling, on_result)``, so async drivers (the
evolution engine, ``solve``) have one code path: a sync backend runs ``generate`` in a worker
thread and reports results in prompt order; async backends implement only ``agenerate_one`` (one
prompt, one request) and ``AsyncBackend`` fans out with bounded concurrency, so every HTTP backend
gets the same scheduling for free and reports each result as it arrives.

Lifetime: a backend owns its resources. ``with backend:`` / ``close()`` releases them for good;
``async with backend:`` / ``aclose()`` releases what the running event loop opened (an HTTP
client's connection pool), and the backend stays usable from another loop.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wizardmath.data.templates import Message, Prompt, prompt_text

__all__ = [
    "AsyncBackend",
    "Backend",
    "FakeBackend",
    "Generation",
    "Message",
    "Prompt",
    "SamplingParams",
    "prompt_text",
    "run_coroutine",
]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; ``temperature == 0`` means greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class Generation:
    """One generated text with its token accounting (zeros where a backend cannot count)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    error: str | None = None  # set when the request failed for good; text is then ""
    meta: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """A text generator. Subclasses set ``name`` and implement ``generate``."""

    name: str = "backend"

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[list[Generation]]: ...

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        sampling: SamplingParams,
        on_result: Callable[[int, list[Generation]], None] | None = None,
    ) -> list[list[Generation]]:
        """``generate`` in a worker thread (the event loop stays free); ``on_result(index, gens)`` fires
        for each prompt in order once the batch is done."""
        results = await asyncio.to_thread(self.generate, list(prompts), sampling)
        if on_result is not None:
            for index, gens in enumerate(results):
                on_result(index, gens)
        return results

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release servers, pools or GPU memory."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Release what the running event loop opened (e.g. an HTTP client); the backend stays usable."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Backend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion from sync code, even when an event loop already runs (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class AsyncBackend(Backend):
    """Backends that send one request per prompt; fans out with at most ``concurrency`` in flight."""

    def __init__(self, concurrency: int = 16):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency

    @abstractmethod
    async def agenerate_one(self, prompt: Prompt, sampling: SamplingParams) -> list[Generation]: ...

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        sampling: SamplingParams,
        on_result: Callable[[int, list[Generation]], None] | None = None,
    ) -> list[list[Generation]]:
        """All prompts, ``concurrency`` at a time; ``on_result(index, gens)`` fires as each finishes."""
        gate = asyncio.Semaphore(self.concurrency)
        results: list[list[Generation]] = [[] for _ in prompts]

        async def one(index: int, prompt: Prompt) -> None:
            async with gate:
                results[index] = await self.agenerate_one(prompt, sampling)
            if on_result is not None:
                on_result(index, results[index])

        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
        return results

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[list[Generation]]:
        """From sync code: one event loop for this call, which releases what it opened when done."""

        async def once() -> list[list[Generation]]:
            async with self:
                return await self.agenerate(prompts, sampling)

        return run_coroutine(once())


class FakeBackend(Backend):
    """A deterministic backend for tests: ``respond(prompt_text, sample_index) -> str``.

    A real class rather than a mock, so code under test runs its real paths end to end.
    """

    name = "fake"

    def __init__(self, respond: Callable[[str, int], str] | dict[str, str] | str = ""):
        if isinstance(respond, dict):
            table = respond
            self._respond: Callable[[str, int], str] = lambda p, i: table.get(p, "")
        elif isinstance(respond, str):
            self._respond = lambda p, i: respond
        else:
            self._respond = respond
        self.calls: list[str] = []

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[list[Generation]]:
        out = []
        for prompt in prompts:
            text = prompt_text(prompt)
            self.calls.append(text)
            out.append(
                [Generation(self._respond(text, i), len(text.split()), 0, "stop") for i in range(sampling.n)]
            )
        return out
