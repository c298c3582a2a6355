"""The local OpenAI-compatible test server, checked over raw HTTP (``http.client``), not our backend."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from wizardmath.backends.testing import Fault, LocalServer, cycle_faults, echo, serve


def post(server: LocalServer, path: str, body: dict, timeout: float = 5.0):
    """(status, headers, raw body) of one POST; lets protocol errors propagate."""
    url = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request("POST", f"/v1{path}", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get(server: LocalServer, path: str):
    url = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


CHAT = {"model": "m", "messages": [{"role": "user", "content": "what is 2+2"}]}


def test_chat_completion_has_the_openai_shape():
    with serve(model="tiny") as server:
        status, headers, raw = post(server, "/chat/completions", {**CHAT, "n": 2, "seed": 7})
    body = json.loads(raw)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert [c["message"]["content"] for c in body["choices"]] == [
        "echo[0|7]: what is 2+2",
        "echo[1|7]: what is 2+2",
    ]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    # Whitespace-word token counts: 3 prompt words, 2 x 4 completion words.
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}


def test_text_completion_and_the_get_routes():
    with serve(model="tiny") as server:
        status, _, raw = post(server, "/completions", {"model": "m", "prompt": "1 + 1 ="})
        assert get(server, "/v1/models") == (
            200,
            {"object": "list", "data": [{"id": "tiny", "object": "model", "owned_by": "local"}]},
        )
        assert get(server, "/health") == (200, {"status": "ok"})
        assert get(server, "/nope")[0] == 404
        assert post(server, "/embeddings", {"input": "x"})[0] == 404
        assert post(server, "/completions", {"model": "m"})[0] == 400  # no prompt
        assert post(server, "/completions", {"model": "m", "prompt": ["a", "b"]})[0] == 400  # batched
    body = json.loads(raw)
    assert status == 200 and body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "echo[0|None]: 1 + 1 ="
    assert server.counts["requests"] == 1 and server.counts["responses"] == 1


def test_each_fault_misbehaves_as_documented():
    plan = cycle_faults(
        [Fault("rate_limit", retry_after=1.5), "server_error", "bad_request", "malformed", "truncated"]
    )
    with serve(faults=plan) as server:
        status, headers, raw = post(
            server, "/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "a"}]}
        )
        assert status == 429 and headers["Retry-After"] == "1.5"
        assert json.loads(raw)["error"]["type"] == "rate_limit_error"
        assert post(server, "/completions", {"model": "m", "prompt": "b"})[0] == 500
        assert post(server, "/completions", {"model": "m", "prompt": "c"})[0] == 400
        status, _, raw = post(server, "/completions", {"model": "m", "prompt": "d"})
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        with pytest.raises(http.client.IncompleteRead):
            post(server, "/completions", {"model": "m", "prompt": "e"})
        # Second attempts of the same prompts succeed (attempts=1 by default).
        assert post(server, "/completions", {"model": "m", "prompt": "b"})[0] == 200
        assert (
            post(server, "/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "a"}]})[0]
            == 200
        )
    assert server.counts == {
        "requests": 7,
        "responses": 2,
        "rate_limit": 1,
        "server_error": 1,
        "bad_request": 1,
        "malformed": 1,
        "truncated": 1,
    }


def test_hang_outlasts_the_client_timeout_and_stopping_the_server_ends_it():
    with serve(faults=cycle_faults(["hang"]), hang_seconds=30) as server:
        start = time.perf_counter()
        with pytest.raises((socket.timeout, TimeoutError)):
            post(server, "/completions", {"model": "m", "prompt": "x"}, timeout=0.3)
        assert 0.3 <= time.perf_counter() - start < 2
    # Leaving the context stopped the hung handler instead of waiting 30 s.
    assert time.perf_counter() - start < 5
    assert server.counts["hang"] == 1


def test_cycle_faults_serves_an_exact_number_of_faults_in_any_order():
    plan = cycle_faults(["server_error", "malformed"], attempts=2)
    keys = [f"p{i}" for i in range(10)]
    served = [plan(k, attempt) for attempt in range(4) for k in reversed(keys)]
    faults = [f for f in served if f is not None]
    assert len(faults) == 10 * 2
    assert sum(f.kind == "server_error" for f in faults) == 10  # alternating by first arrival


def test_unknown_fault_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: rate_limit, server_error, hang"):
        Fault("explode")


def test_max_n_refuses_and_ignore_n_answers_one():
    with serve(max_n=1) as server:
        assert post(server, "/completions", {"model": "m", "prompt": "x", "n": 2})[0] == 400
        assert post(server, "/completions", {"model": "m", "prompt": "x", "n": 1})[0] == 200
    with serve(ignore_n=True) as server:
        _, _, raw = post(server, "/completions", {"model": "m", "prompt": "x", "n": 4})
    assert len(json.loads(raw)["choices"]) == 1


def test_sixty_four_slow_requests_run_at_once():
    """The default listen backlog (5) would refuse most of these; ours holds 1024."""
    with serve(delay=1.0) as server, ThreadPoolExecutor(64) as pool:
        start = time.perf_counter()
        statuses = list(
            pool.map(lambda i: post(server, "/completions", {"model": "m", "prompt": f"q{i}"})[0], range(64))
        )
        elapsed = time.perf_counter() - start
    assert statuses == [200] * 64
    assert server.max_in_flight == 64
    assert elapsed < 4.0  # one round of 1 s, not 64


def test_echo_is_deterministic():
    body = {"n": 2, "seed": 3}
    assert (
        echo("hi", body)
        == echo([{"role": "user", "content": "hi"}], body)
        == ["echo[0|3]: hi", "echo[1|3]: hi"]
    )


def test_server_threads_do_not_leak():
    before = threading.active_count()
    with serve() as server:
        for i in range(5):
            post(server, "/completions", {"model": "m", "prompt": str(i)})
    time.sleep(0.2)
    assert threading.active_count() <= before + 1


def test_command_line_server_prints_its_url_and_serves():
    """``python -m wizardmath.backends.testing`` is what the benchmark runs in its own process."""
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "wizardmath.backends.testing", "--delay", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:
            assert json.loads(response.read())["data"][0]["id"] == "test-model"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_benchmark_runs_small_and_reports_both_targets():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "evol_bench.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--requests",
            "24",
            "--concurrency",
            "8",
            "--delay",
            "0.05",
            "--sequential",
            "6",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr  # 1 = a target missed, which a tiny run may
    out = result.stdout
    assert "concurrent: 24 requests at concurrency 8" in out
    assert "MEASURED ON A SUBSET of 6 requests" in out
    assert "ideal: ceil(24/8) x 0.05 s = 0.15 s" in out
    assert "concurrent / ideal" in out and "sequential / concurrent" in out
