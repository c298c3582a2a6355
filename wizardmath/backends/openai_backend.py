"""Any OpenAI-compatible server (hosted APIs, ``vllm serve``, ``transformers serve``) as a ``Backend``.

Built on the ``openai`` package's ``AsyncOpenAI`` client with the client's own retries switched
off, so that every retry is ours and is counted. Per request:

1. wait for the rate limiter (requests and tokens per minute, token buckets; ``ratelimit.py``);
2. send with a hard deadline of ``timeout`` seconds (``asyncio.wait_for``, on top of httpx's own);
3. on 429, 5xx, 408/409/425, timeouts, dropped connections, broken HTTP or malformed JSON: back off
   exponentially with jitter (or as long as ``Retry-After`` says; a 429 also pauses every other
   request) and try again, up to ``max_retries`` times;
4. other 4xx are the caller's mistake and are not retried.

A request that fails for good yields ``Generation(text="", error=reason)`` for each missing sample
rather than raising, so a long run keeps going and can retry the gaps later. ``backend.stats``
counts requests, retries by reason, failures, tokens, cost and wall time.

``n`` samples are asked for in one request; a server that refuses ``n > 1`` (400 or 422) or
answers fewer choices (``transformers serve`` ignores ``n``) gets the missing samples as single
requests, seeded ``seed + i`` so they differ, and later calls go straight to single requests.

Against vLLM (GPU)::

    vllm serve meta-llama/Llama-2-7b-hf --port 8000 --served-model-name llama2-7b
    OpenAIBackend(base_url="http://localhost:8000/v1", model="llama2-7b", chat=False)

vLLM accepts ``n``, ``seed`` and ``stop``; pass sampler extras such as ``{"top_k": 20}`` with
``extra_body``. Use ``chat=False`` for base models without a chat template. Against
``transformers serve`` (CPU is fine, ``pip install "transformers[serving]"``)::

    transformers serve ./tiny-model --port 8000 --device cpu
    OpenAIBackend(base_url="http://localhost:8000/v1", model="./tiny-model")

``model=None`` takes the first model the server lists. Hosted APIs: ``base_url=None`` and
``api_key=None`` read ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``; set the per-1k-token prices to get
``cost_usd``.

Lifetime: the backend owns one client per event loop. ``generate`` (sync) opens and closes its
own; async callers hold it with ``async with backend:`` (or call ``aclose()``), so calls on one loop
share one connection pool however they overlap.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from wizardmath.backends.base import AsyncBackend, Generation, Prompt, SamplingParams, prompt_text
from wizardmath.backends.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx
N_REFUSED_STATUS = {400, 422}  # how servers say "n > 1 is not allowed" (FastAPI validation: 422)
MAX_RETRY_AFTER = 300.0  # seconds; a server asking for longer is treated as asking for this
# A reply longer than max_tokens x this many characters came from a server that ignores max_tokens
# (tokenizers average ~4 characters a token on prose and math; 16 leaves room for long numbers and
# whitespace runs). It is cut there, with finish_reason "length" and meta["over_length"], so no stage
# writes a record the next one refuses (a 5 MB "solution" is over the 1 MiB input line limit).
MAX_CHARS_PER_TOKEN = 16


class RequestFailed(Exception):
    """A request that will not be retried (or ran out of retries); ``reason`` goes into the result."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason, self.status = reason, status


class MalformedResponse(ValueError):
    """The server answered 200 with something that is not a completion."""


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date), or None."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


def classify(err: Exception) -> tuple[str, bool, int | None, float | None]:
    """(reason, retryable, HTTP status, Retry-After seconds) for an exception from one request.

    Exceptions that are none of the API's failure modes (bugs) are re-raised, not retried.
    """
    import openai

    if isinstance(err, (asyncio.TimeoutError, openai.APITimeoutError)):
        return "timeout", True, None, None
    if isinstance(err, openai.APIConnectionError):
        # A body cut short or a garbled response surfaces as a protocol error under the wrapper.
        cause = err.__cause__
        broken = cause is not None and "ProtocolError" in type(cause).__name__
        return ("protocol" if broken else "connection"), True, None, None
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        retry_after = parse_retry_after(err.response.headers if err.response is not None else None)
        if status == 429:
            return "rate_limit", True, status, retry_after
        if status >= 500 or status in RETRY_STATUS:
            return "server_error", True, status, retry_after
        return f"http_{status}: {err.message}"[:300], False, status, None
    if isinstance(err, (json.JSONDecodeError, MalformedResponse, openai.APIResponseValidationError)):
        return "malformed", True, None, None
    raise err


def _http_client(connections: int, timeout: float) -> Any:
    """The client's own httpx flavour with a pool as large as our concurrency."""
    import openai

    # openai >= 3 ships on httpx2, older versions on httpx: take Limits from whichever it subclasses.
    http = importlib.import_module(openai.DefaultAsyncHttpxClient.__mro__[1].__module__.split(".")[0])
    limits = http.Limits(max_connections=connections, max_keepalive_connections=connections)
    return openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)


class OpenAIBackend(AsyncBackend):
    """Chat (``chat=True``) or text completions from an OpenAI-compatible server, retried and metered."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        concurrency: int = 64,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_retries: int = 6,
        timeout: float = 60.0,
        chat: bool = True,
        price_per_1k_prompt: float = 0.0,
        price_per_1k_completion: float = 0.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ):
        super().__init__(concurrency)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if backoff_base < 0 or backoff_max < backoff_base:
            raise ValueError(f"need 0 <= backoff_base <= backoff_max, got {backoff_base} and {backoff_max}")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        # Local servers (vLLM, transformers serve) take any key; the client insists on one.
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.model, self.chat = model, chat
        self.max_retries, self.timeout = max_retries, timeout
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.prices = (price_per_1k_prompt, price_per_1k_completion)
        self.extra_body = dict(extra_body or {})
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.n_supported: bool | None = None  # learnt from the server: None until we know
        self._rng = random.Random(retry_seed)
        # One client per event loop (httpx pools cannot cross loops); ``aclose`` closes the loop's own.
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self.reset_stats()

    # ---------------------------------------------------------------- accounting
    def reset_stats(self) -> None:
        self._counts: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._wall = 0.0

    @property
    def stats(self) -> dict[str, Any]:
        """Counts since construction (or ``reset_stats``).

        Every HTTP request sent ends as exactly one of: a response, a retry, a failure, or a refusal
        of ``n > 1`` (``n_refused``), so ``requests`` is their sum.
        """
        c = self._counts
        cost = (c["prompt_tokens"] * self.prices[0] + c["completion_tokens"] * self.prices[1]) / 1000
        return {
            "requests": c["requests"],
            "responses": c["responses"],
            "retries": dict(self._retries),
            "retries_total": sum(self._retries.values()),
            "failures": sum(self._failures.values()),
            "failures_by_reason": dict(self._failures),
            "n_refused": c["n_refused"],
            "n_ignored": c["n_ignored"],
            "over_length": c["over_length"],  # replies cut at max_tokens x MAX_CHARS_PER_TOKEN characters
            "prompt_tokens": c["prompt_tokens"],
            "completion_tokens": c["completion_tokens"],
            "cost_usd": round(cost, 6),
            "rate_limit_wait_s": round(self.limiter.waited, 3),
            "wall_s": round(self._wall, 3),
        }

    # ---------------------------------------------------------------- client
    def _client(self) -> Any:
        """The client for the running event loop, made on first use."""
        loop = asyncio.get_running_loop()
        for dead in [other for other in self._clients if other.is_closed()]:  # a caller that never closed
            del self._clients[dead]
        if loop not in self._clients:
            import openai

            self._clients[loop] = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                max_retries=0,
                timeout=self.timeout,
                http_client=_http_client(max(self.concurrency, 1), self.timeout),
            )
        return self._clients[loop]

    async def aclose(self) -> None:
        """Close the running loop's client (``async with backend:`` does this on exit); a later call
        on this or another loop opens a new one. ``generate`` (sync) closes its own."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def close(self) -> None:
        # Clients of other loops can only be closed inside them; drop the references.
        self._clients.clear()

    async def _resolve_model(self) -> str:
        if self.model is None:
            try:
                models = await self._client().models.list()
                self.model = models.data[0].id
            except Exception as err:
                raise ValueError(
                    f"could not list models at {self.base_url} ({err!r}); pass model=NAME"
                ) from err
        return self.model

    # ---------------------------------------------------------------- generation
    async def agenerate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, on_result=None
    ) -> list[list[Generation]]:
        """All prompts, on the running loop's client (open until ``aclose`` / the end of ``async with``)."""
        start = time.perf_counter()
        try:
            await self._resolve_model()
            return await super().agenerate(prompts, sampling, on_result)
        finally:
            self._wall += time.perf_counter() - start

    async def agenerate_one(self, prompt: Prompt, sampling: SamplingParams) -> list[Generation]:
        """``sampling.n`` generations for one prompt; failures come back as ``Generation.error``."""
        await self._resolve_model()
        n, gens = sampling.n, []
        if n > 1 and self.n_supported is not False:
            try:
                gens = await self._call(prompt, sampling, n, 0)
                if len(gens) < n:  # the server ignores n: top up with single requests
                    self.n_supported = False
                    self._counts["n_ignored"] += 1
            except RequestFailed as err:
                if err.status not in N_REFUSED_STATUS:
                    return self._failed(err.reason, n)
                logger.info("server refused n=%d (%s); sending one request per sample", n, err.reason)
                self.n_supported = False
                self._counts["n_refused"] += 1
        while len(gens) < n:
            try:
                gens.extend(await self._call(prompt, sampling, 1, len(gens)))
            except RequestFailed as err:
                gens.extend(self._failed(err.reason, 1))
        return gens[:n]

    def _failed(self, reason: str, count: int) -> list[Generation]:
        self._failures[reason.split(":")[0]] += 1
        logger.warning("request failed for good: %s", reason)
        return [Generation(text="", error=reason) for _ in range(count)]

    def _payload(self, prompt: Prompt, sampling: SamplingParams, n: int, offset: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
        }
        if self.chat:
            payload["messages"] = (
                [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
            )
        else:
            payload["prompt"] = prompt_text(prompt)
        if n > 1:
            payload["n"] = n
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            payload["seed"] = sampling.seed + offset  # separate requests for one prompt must differ
        return {**payload, **self.extra_body}

    def _endpoint(self) -> tuple[str, type]:
        """Path and response type. ``client.post`` is the client's documented raw-request method: same
        transport, errors and typed parsing as ``create``, minus a per-call re-validation of the
        parameters that cost ~0.4 ms of CPU per request, a quarter of the client's total."""
        from openai.types import Completion
        from openai.types.chat import ChatCompletion

        return ("/chat/completions", ChatCompletion) if self.chat else ("/completions", Completion)

    async def _call(self, prompt: Prompt, sampling: SamplingParams, n: int, offset: int) -> list[Generation]:
        """One logical request with retries; raises ``RequestFailed`` when it gives up."""
        payload = self._payload(prompt, sampling, n, offset)
        estimate = len(prompt_text(prompt)) // 4 + 1 + sampling.max_new_tokens * n
        client, (path, result_type) = self._client(), self._endpoint()
        for attempt in range(self.max_retries + 1):
            await self.limiter.acquire(estimate)
            self._counts["requests"] += 1
            try:
                response = await asyncio.wait_for(
                    client.post(path, body=payload, cast_to=result_type), self.timeout
                )
                gens = self._parse(response, attempt, sampling.max_new_tokens * MAX_CHARS_PER_TOKEN)
            except Exception as err:
                reason, retryable, status, retry_after = classify(err)
                self.limiter.settle(estimate, 0)
                if not retryable or attempt == self.max_retries:
                    raise RequestFailed(
                        reason if not retryable else f"{reason}: gave up after {attempt + 1} attempts", status
                    ) from err
                self._retries[reason] += 1
                delay = self._backoff(attempt, retry_after)
                if status == 429:
                    self.limiter.pause(delay)  # the whole account is limited, not just this request
                logger.debug("retry %d in %.2fs after %s (%r)", attempt + 1, delay, reason, err)
                await asyncio.sleep(delay)
                continue
            self._counts["responses"] += 1
            usage = getattr(response, "usage", None)
            prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
            completion_tokens = getattr(usage, "completion_tokens", 0) or 0
            self._counts["prompt_tokens"] += prompt_tokens
            self._counts["completion_tokens"] += completion_tokens
            self.limiter.settle(estimate, prompt_tokens + completion_tokens if usage else estimate)
            return gens
        raise AssertionError("unreachable")  # the loop returns or raises

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential with equal jitter, or the server's Retry-After stretched by up to 10%."""
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER) * (1.0 + 0.1 * self._rng.random())
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return delay * (0.5 + 0.5 * self._rng.random())

    def _parse(self, response: Any, attempt: int, max_chars: int | None = None) -> list[Generation]:
        choices = getattr(response, "choices", None)
        if not choices or not isinstance(choices, list):
            raise MalformedResponse(f"no choices in response: {str(response)[:200]}")
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        completion_total = getattr(usage, "completion_tokens", 0) or 0
        gens = []
        for i, choice in enumerate(sorted(choices, key=lambda c: getattr(c, "index", 0) or 0)):
            if self.chat:
                message = getattr(choice, "message", None)
                if message is None:
                    raise MalformedResponse(f"choice without a message: {str(choice)[:200]}")
                text = message.content
                if text is None:  # a refusal, a tool call or a cut-off reasoning model: no reply to grade
                    raise MalformedResponse(f"message content is null: {str(choice)[:200]}")
            else:
                text = getattr(choice, "text", None)
                if text is None:
                    raise MalformedResponse(f"choice without text: {str(choice)[:200]}")
            # usage is per request: split completion tokens evenly, remainder to the first samples.
            share = completion_total // len(choices) + (1 if i < completion_total % len(choices) else 0)
            finish, meta = getattr(choice, "finish_reason", None), {"attempts": attempt + 1}
            if max_chars and len(text) > max_chars:  # the server ignored max_tokens
                self._counts["over_length"] += 1
                text, finish, meta["over_length"] = text[:max_chars], "length", len(text)
            gens.append(Generation(text, prompt_tokens, share, finish, meta=meta))
        return gens
