"""``OpenAIBackend`` over real HTTP on loopback, against the fault-injecting test server."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from email.utils import formatdate

import pytest

from wizardmath.backends import SamplingParams, get_backend, prompt_text
from wizardmath.backends.openai_backend import OpenAIBackend, parse_retry_after
from wizardmath.backends.testing import Fault, cycle_faults, serve

pytestmark = pytest.mark.timeout(30)


def backend(server, **kwargs) -> OpenAIBackend:
    """A backend with test-speed backoff (10-50 ms) and seeded jitter."""
    options = {
        "model": "m",
        "concurrency": 16,
        "timeout": 5.0,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "retry_seed": 0,
    }
    return OpenAIBackend(base_url=server.base_url, **{**options, **kwargs})


def texts(results) -> list[list[str]]:
    return [[g.text for g in gens] for gens in results]


def test_chat_round_trip_sends_the_sampling_parameters():
    with serve() as server:
        b = backend(server)
        out = b.generate(
            ["2+2?", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "3+3?"}]],
            SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=40, stop=("\n\n",), seed=11),
        )
    assert texts(out) == [["echo[0|11]: 2+2?"], ["echo[0|11]: be brief\n\n3+3?"]]
    first = next(body for body in server.bodies if body["messages"][-1]["content"] == "2+2?")
    assert first == {
        "model": "m",
        "messages": [{"role": "user", "content": "2+2?"}],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 40,
        "stop": ["\n\n"],
        "seed": 11,
    }  # no "n" when n == 1
    g = out[0][0]
    assert (g.prompt_tokens, g.completion_tokens, g.finish_reason, g.error) == (1, 2, "stop", None)
    assert g.meta == {"attempts": 1}


def test_text_completions_flatten_chat_prompts_and_add_extra_body():
    with serve() as server:
        b = backend(server, chat=False, extra_body={"top_k": 5})
        out = b.generate(
            ["1 + 1 =", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]],
            SamplingParams(),
        )
    assert texts(out) == [["echo[0|None]: 1 + 1 ="], ["echo[0|None]: a\n\nb"]]
    assert all(body["top_k"] == 5 and "prompt" in body and "messages" not in body for body in server.bodies)


def test_n_samples_come_from_one_request_and_usage_is_split():
    with serve() as server:
        b = backend(server)
        out = b.generate(["q"], SamplingParams(n=3, temperature=1.0, seed=4))
    assert texts(out) == [["echo[0|4]: q", "echo[1|4]: q", "echo[2|4]: q"]]
    assert server.counts["requests"] == 1 and server.bodies[0]["n"] == 3
    assert sum(g.completion_tokens for g in out[0]) == b.stats["completion_tokens"] == 6
    assert b.stats["prompt_tokens"] == 1  # counted once per request, not per sample


def test_server_refusing_n_gets_one_request_per_sample_with_distinct_seeds():
    with serve(max_n=1) as server:
        b = backend(server, concurrency=1)
        first = b.generate(["a"], SamplingParams(n=3, seed=5))
        second = b.generate(["b"], SamplingParams(n=2, seed=5))
    assert texts(first) == [["echo[0|5]: a", "echo[0|6]: a", "echo[0|7]: a"]]
    assert texts(second) == [["echo[0|5]: b", "echo[0|6]: b"]]
    # 1 refused + 3 singles, then straight to 2 singles: the backend remembered.
    assert server.counts == {"requests": 6, "refused_n": 1, "responses": 5}
    assert b.n_supported is False and b.stats["n_refused"] == 1 and b.stats["failures"] == 0


def test_server_ignoring_n_is_topped_up():
    """``transformers serve`` answers one choice whatever n is."""
    with serve(ignore_n=True) as server:
        b = backend(server, concurrency=1)
        out = b.generate(["a"], SamplingParams(n=3, seed=0))
    assert texts(out) == [["echo[0|0]: a", "echo[0|1]: a", "echo[0|2]: a"]]
    assert server.counts["requests"] == 3 and b.stats["n_ignored"] == 1


KINDS = ["rate_limit", "server_error", "malformed", "truncated"]
REASON = {
    "rate_limit": "rate_limit",
    "server_error": "server_error",
    "malformed": "malformed",
    "truncated": "protocol",
}


def test_faults_lose_nothing_and_every_retry_is_counted():
    prompts = [f"problem {i}" for i in range(100)]
    plan = cycle_faults([Fault("rate_limit", retry_after=0.02), *KINDS[1:]], attempts=2)
    with serve(faults=plan) as server:
        # A generous timeout: on a loaded machine a tight one also times out healthy requests,
        # and those extra (correctly counted) retries would blur the exact tally checked here.
        b = backend(server, concurrency=32, timeout=10.0)
        out = b.generate(prompts, SamplingParams())
    assert texts(out) == [[f"echo[0|None]: {p}"] for p in prompts]
    stats = b.stats
    # 100 prompts, 4 kinds, first 2 attempts of each prompt faulty: 50 of each kind, 200 retries.
    assert stats["retries"] == {REASON[k]: 50 for k in KINDS}
    assert stats["retries_total"] == 200 == sum(server.counts[k] for k in KINDS)
    assert stats["requests"] == server.counts["requests"] == 300
    assert stats["responses"] == 100 and stats["failures"] == 0
    assert all(gens[0].meta["attempts"] == 3 for gens in out)


def test_hangs_past_the_timeout_are_cut_and_retried():
    prompts = [f"problem {i}" for i in range(8)]
    with serve(faults=cycle_faults(["hang", "rate_limit"]), hang_seconds=30) as server:
        b = backend(server, concurrency=8, timeout=1.5)
        start = time.perf_counter()
        out = b.generate(prompts, SamplingParams())
        elapsed = time.perf_counter() - start
    assert texts(out) == [[f"echo[0|None]: {p}"] for p in prompts]
    assert b.stats["retries"] == {"timeout": 4, "rate_limit": 4}
    assert b.stats["requests"] == server.counts["requests"] == 16
    assert 1.5 <= elapsed < 6  # the hangs were cut at the 1.5 s deadline, not waited out (30 s)


def test_a_request_that_never_succeeds_returns_an_error_instead_of_raising():
    with serve(faults=cycle_faults(["server_error"], attempts=99)) as server:
        b = backend(server, max_retries=3)
        out = b.generate(["x", "y"], SamplingParams(n=2))
    for gens in out:
        assert [g.text for g in gens] == ["", ""]
        assert gens[0].error == "server_error: gave up after 4 attempts"
    stats = b.stats
    assert server.counts["requests"] == stats["requests"] == 8  # 2 prompts x (1 + 3 retries)
    assert stats["retries"] == {"server_error": 6} and stats["failures"] == 2
    assert stats["failures_by_reason"] == {"server_error": 2}
    assert stats["requests"] == stats["responses"] + stats["retries_total"] + stats["failures"]


def test_client_errors_are_not_retried():
    with serve(faults=cycle_faults(["bad_request"])) as server:
        b = backend(server)
        out = b.generate(["x"], SamplingParams())
    assert out[0][0].error.startswith("http_400: ") and "injected bad request" in out[0][0].error
    assert server.counts["requests"] == 1 and b.stats["retries_total"] == 0
    assert b.stats["failures_by_reason"] == {"http_400": 1}


def test_unreachable_server_fails_as_connection_errors():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    b = OpenAIBackend(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=2, backoff_base=0.01, backoff_max=0.02
    )
    out = b.generate(["x"], SamplingParams())
    assert out[0][0].error == "connection: gave up after 3 attempts"
    assert b.stats["retries"] == {"connection": 2}


def test_retry_after_is_honoured_and_pauses_other_requests():
    plan = cycle_faults([Fault("rate_limit", retry_after=0.4)])
    with serve(faults=lambda key, attempt: plan(key, attempt) if key == "first" else None) as server:
        b = backend(server, concurrency=1)
        start = time.perf_counter()
        out = b.generate(["first", "second"], SamplingParams())
        elapsed = time.perf_counter() - start
    assert texts(out) == [["echo[0|None]: first"], ["echo[0|None]: second"]]
    assert 0.4 <= elapsed < 2.0  # waited the 0.4 s asked for (+ up to 10% jitter), not the 10 ms backoff
    assert b.stats["retries"] == {"rate_limit": 1}


def test_concurrency_is_bounded():
    with serve(delay=0.25) as server:  # long enough that 8 requests overlap even on a busy machine
        b = backend(server, concurrency=8)
        out = b.generate([f"q{i}" for i in range(24)], SamplingParams())
    assert len(out) == 24 and server.max_in_flight == 8


def test_requests_per_minute_limit_spreads_requests_out():
    with serve() as server:
        b = backend(server, requests_per_minute=1200)  # 20/s, a 1 s burst of 20
        start = time.perf_counter()
        b.generate([f"q{i}" for i in range(30)], SamplingParams())
        elapsed = time.perf_counter() - start
    assert 0.45 <= elapsed < 2.0  # 10 beyond the burst at 20/s: 0.5 s
    assert b.stats["rate_limit_wait_s"] > 0


def test_cost_follows_the_token_counts():
    with serve() as server:
        b = backend(server, price_per_1k_prompt=10.0, price_per_1k_completion=30.0)
        b.generate(["one two three"], SamplingParams(n=2))  # 3 prompt words, 2 x 4 completion words
    assert (b.stats["prompt_tokens"], b.stats["completion_tokens"]) == (3, 8)
    assert b.stats["cost_usd"] == pytest.approx((3 * 10 + 8 * 30) / 1000)
    b.reset_stats()
    assert b.stats["requests"] == 0 and b.stats["cost_usd"] == 0


def test_model_none_asks_the_server():
    with serve(model="served-name") as server:
        b = backend(server, model=None)
        b.generate(["x"], SamplingParams())
    assert b.model == "served-name" and server.bodies[0]["model"] == "served-name"


def test_sync_calls_repeat_and_work_inside_a_running_loop():
    """Each generate() runs its own event loop; a client must never leak from one loop into the next."""
    with serve() as server:
        b = backend(server)
        assert texts(b.generate(["a"], SamplingParams())) == [["echo[0|None]: a"]]
        assert texts(b.generate(["b"], SamplingParams())) == [["echo[0|None]: b"]]

        async def inside_jupyter_like_loop():
            return b.generate(["c"], SamplingParams())

        assert texts(asyncio.run(inside_jupyter_like_loop())) == [["echo[0|None]: c"]]


def test_async_callers_use_agenerate_one_and_aclose():
    with serve() as server:
        b = backend(server)

        async def run():
            try:
                return await asyncio.gather(*(b.agenerate_one(p, SamplingParams()) for p in "xyz"))
            finally:
                await b.aclose()

        assert texts(asyncio.run(run())) == [["echo[0|None]: x"], ["echo[0|None]: y"], ["echo[0|None]: z"]]


def test_on_result_reports_progress_as_results_arrive():
    seen: list[int] = []
    with serve() as server:
        b = backend(server)

        async def run():
            async with b:
                await b.agenerate(["a", "b", "c"], SamplingParams(), on_result=lambda i, gens: seen.append(i))

        asyncio.run(run())
    assert sorted(seen) == [0, 1, 2]


def test_the_backend_owns_its_client_for_as_long_as_the_caller_holds_it():
    """Calls on one loop share one client (kept open between calls); leaving ``async with`` closes it,
    and a later loop gets a fresh one."""
    with serve() as server:
        b = backend(server)

        async def session():
            async with b:
                await b.agenerate(["a"], SamplingParams())
                client = b._client()
                await b.agenerate(["b", "c"], SamplingParams())
                assert b._client() is client and not client.is_closed()
            assert not b._clients
            return client

        first = asyncio.run(session())
        assert first.is_closed()
        second = asyncio.run(session())
        assert second is not first and b.stats["responses"] == 6 and b.stats["failures"] == 0


def test_registry_builds_it_by_name():
    with serve() as server:
        b = get_backend("openai", base_url=server.base_url, model="m")
        assert isinstance(b, OpenAIBackend) and b.name == "openai"


def test_documented_defaults():
    """The defaults named in the module docs and the task (concurrency 64, 6 retries, 60 s)."""
    params = inspect.signature(OpenAIBackend).parameters
    assert params["concurrency"].default == 64
    assert params["max_retries"].default == 6
    assert params["timeout"].default == 60.0
    assert params["chat"].default is True
    assert params["requests_per_minute"].default is None and params["tokens_per_minute"].default is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"backoff_base": 2.0, "backoff_max": 1.0}, "backoff_base <= backoff_max"),
    ],
)
def test_bad_settings_say_what_to_set(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpenAIBackend(base_url="http://127.0.0.1:1/v1", model="m", **kwargs)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one first
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, seconds):
    assert parse_retry_after(headers) == seconds


def test_parse_retry_after_http_date():
    assert parse_retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)}) == pytest.approx(
        30, abs=1.5
    )
    assert parse_retry_after({"retry-after": formatdate(time.time() - 30, usegmt=True)}) == 0.0


def test_overlapping_calls_on_one_loop_share_the_client_safely():
    """A call that ends first must not close the client under another call still in flight."""

    def slow_for_some(prompt, body):
        time.sleep(0.3 if "slow" in prompt_text(prompt) else 0.0)
        return [f"ok {prompt_text(prompt)}"]

    with serve(slow_for_some) as server:
        b = backend(server)

        async def run():
            async with b:
                return await asyncio.gather(
                    b.agenerate(["fast"], SamplingParams()),
                    b.agenerate(["slow 1", "slow 2"], SamplingParams()),
                )

        fast, slow = asyncio.run(run())
    assert texts(fast) == [["ok fast"]] and texts(slow) == [["ok slow 1"], ["ok slow 2"]]
    assert b.stats["failures"] == 0


def test_tokens_per_minute_limit_uses_estimates_then_settles_on_usage():
    """600 tokens/min = 10/s, bucket 10. Each request is estimated at 1 + 20 tokens (more than the
    bucket, so it waits for a full one) and refunded to the 3 the server reports: ~0.3 s apart."""
    with serve() as server:
        b = backend(server, tokens_per_minute=600, concurrency=1)
        start = time.perf_counter()
        out = b.generate(["x"] * 5, SamplingParams(max_new_tokens=20))
        elapsed = time.perf_counter() - start
    assert all(gens[0].text == "echo[0|None]: x" for gens in out)
    assert b.stats["prompt_tokens"] + b.stats["completion_tokens"] == 5 * 3
    assert 1.1 <= elapsed < 3.0  # 4 waits of 0.3 s; without the refund it would be 4 x 2.1 s
