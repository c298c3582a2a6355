"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks (stdlib only).

It speaks just enough of the API for ``OpenAIBackend`` and the ``openai`` client: ``POST
/v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models`` and ``GET /health``. What it
answers comes from a *responder*; how it misbehaves comes from a *fault plan*::

    from wizardmath.backends.testing import cycle_faults, echo, serve

    with serve(echo, faults=cycle_faults(["rate_limit", "server_error"]), delay=0.2) as server:
        backend = OpenAIBackend(base_url=server.base_url, model="test")
        ...
        server.counts  # Counter: requests, responses, and one entry per fault served

Faults (``Fault.kind``): ``rate_limit`` (429 with ``Retry-After``), ``server_error`` (500),
``hang`` (no answer until ``hang_seconds`` pass or the server stops), ``malformed`` (200 with broken
JSON), ``truncated`` (a body shorter than its ``Content-Length``, then the connection drops),
``bad_request`` (400). A plan is ``faults(key, attempt) -> Fault | str | None``, where ``key`` is the
prompt text and ``attempt`` counts earlier requests with the same key, so a test knows exactly how
many faults it will meet whatever order concurrent requests arrive in.

Responders (in ``testing_replies``, with the faults): ``echo`` (deterministic text from the prompt)
and ``TransformersResponder(model_dir)`` (a local causal LM, e.g. the tiny model, with its chat
template), so the OpenAI path runs against a real model without a hub or a GPU. From a shell,
``python -m wizardmath.backends.testing --delay 0.2`` or ``--model DIR`` serves until interrupted and
prints its base URL first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wizardmath.backends.base import Prompt, prompt_text
from wizardmath.backends.testing_replies import (
    FAULT_KINDS,
    Fault,
    FaultPlan,
    Reply,
    Responder,
    TransformersResponder,
    cycle_faults,
    echo,
    torch_threads,
)


class LocalServer(ThreadingHTTPServer):
    """The HTTP server; ``counts`` and ``bodies`` record what happened, for assertions."""

    daemon_threads = True
    request_queue_size = 1024  # the default (5) refuses connections beyond a handful at once
    allow_reuse_address = True

    def __init__(
        self,
        responder: Responder,
        faults: FaultPlan | None,
        delay: float,
        hang_seconds: float,
        max_n: int | None,
        ignore_n: bool,
        model: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__((host, port), _Handler)
        self.responder, self.faults, self.delay = responder, faults, delay
        self.hang_seconds, self.max_n, self.ignore_n, self.model = hang_seconds, max_n, ignore_n, model
        self.counts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self.lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and drop every open (keep-alive) connection, as a server that dies does."""
        super().server_close()
        with self.lock:
            open_now, self.connections = list(self.connections), set()
        for connection in open_now:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def admit(self, key: str, body: dict[str, Any]) -> tuple[Fault | None, int]:
        """Record a request and decide its fault; returns (fault, attempt)."""
        with self.lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
            self.counts["requests"] += 1
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        fault = self.faults(key, attempt) if self.faults else None
        if isinstance(fault, str):
            fault = Fault(fault)
        if fault is not None:
            with self.lock:
                self.counts[fault.kind] += 1
        return fault, attempt

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is normal here; count it instead of printing a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            with self.lock:
                self.counts["client_gone"] += 1
            return
        super().handle_error(request, client_address)

    def release(self, outcome: str) -> None:
        with self.lock:
            self.in_flight -= 1
            if outcome:
                self.counts[outcome] += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers; every reply sets Content-Length
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: LocalServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counts instead
        pass

    def _send(
        self, status: int, payload: bytes, headers: dict[str, str] | None = None, length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = (
            "rate_limit_error"
            if status == 429
            else "invalid_request_error"
            if status < 500
            else "server_error"
        )
        self._json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.server.model, "object": "model", "owned_by": "local"}],
                },
            )
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chat = self.path.rstrip("/").endswith("/chat/completions")
        if not chat and not self.path.rstrip("/").endswith("/completions"):
            return self._error(404, f"no route {self.path}")
        try:
            body = json.loads(raw)
            prompt: Prompt = body["messages"] if chat else body["prompt"]
        except (ValueError, KeyError) as err:
            return self._error(400, f"bad request body: {err!r}")
        if not isinstance(prompt, (str, list)) or (not chat and not isinstance(prompt, str)):
            return self._error(400, "prompt must be one string (batched prompts are not served)")
        fault, _ = self.server.admit(prompt_text(prompt), body)
        outcome = ""
        try:
            outcome = self._answer(chat, prompt, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            outcome = "client_gone"  # e.g. the client timed out during a hang
        finally:
            self.server.release(outcome)

    def _answer(self, chat: bool, prompt: Prompt, body: dict[str, Any], fault: Fault | None) -> str:
        if self.server.delay:
            time.sleep(self.server.delay)
        if fault is not None:
            return self._fault(fault)
        n = int(body.get("n") or 1)
        if self.server.max_n is not None and n > self.server.max_n:
            self._error(400, f"n must be <= {self.server.max_n}, got {n}")
            return "refused_n"
        if self.server.ignore_n:
            body = {**body, "n": 1}
        reply = self.server.responder(prompt, body)
        if not isinstance(reply, Reply):
            reply = Reply(list(reply), len(prompt_text(prompt).split()), sum(len(t.split()) for t in reply))
        self._json(200, completion_json(chat, self.server.model, reply))
        return "responses"

    def _fault(self, fault: Fault) -> str:
        if fault.kind == "rate_limit":
            self._error(429, "slow down", {"Retry-After": f"{fault.retry_after:g}"})
        elif fault.kind == "server_error":
            self._error(500, "injected server error")
        elif fault.kind == "bad_request":
            self._error(400, "injected bad request")
        elif fault.kind == "malformed":
            self._send(200, b'{"id": "cmpl-broken", "choices": [{"index": 0, "mess')
        elif fault.kind == "truncated":
            self.close_connection = True
            self._send(200, b'{"id": "cmpl-cut", "object": "chat.completion", "cho', length=400)
        elif fault.kind == "hang":
            self.server.stopping.wait(self.server.hang_seconds)
            self.close_connection = True
            self._error(503, "hung")
        return ""


def completion_json(chat: bool, model: str, reply: Reply) -> dict[str, Any]:
    """An OpenAI chat.completion / text_completion object for ``reply``."""
    reasons = reply.finish_reasons or ["stop"] * len(reply.texts)
    if chat:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": r}
            for i, (t, r) in enumerate(zip(reply.texts, reasons, strict=True))
        ]
    else:
        choices = [
            {"index": i, "text": t, "finish_reason": r, "logprobs": None}
            for i, (t, r) in enumerate(zip(reply.texts, reasons, strict=True))
        ]
    usage = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


@contextmanager
def serve(
    responder: Responder = echo,
    *,
    faults: FaultPlan | None = None,
    delay: float = 0.0,
    hang_seconds: float = 30.0,
    max_n: int | None = None,
    ignore_n: bool = False,
    model: str = "test-model",
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[LocalServer]:
    """Serve in a background thread on ``host:port`` (0 = a free port); stops on exit.

    ``delay`` is added to every request; ``max_n`` answers 400 to larger ``n`` (servers that refuse
    several samples per request); ``ignore_n`` answers one choice whatever ``n`` (as ``transformers
    serve`` does).
    """
    server = LocalServer(responder, faults, delay, hang_seconds, max_n, ignore_n, model, host, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()  # wakes hung handlers
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve from a shell (e.g. as the benchmark's server process, on its own CPU core)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--model", default=None, help="a local model folder to answer with (default: echo)")
    args = parser.parse_args(argv)
    responder: Responder = TransformersResponder(args.model) if args.model else echo
    with serve(
        responder, delay=args.delay, host=args.host, port=args.port, model=args.model or "test-model"
    ) as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


# The server's whole API in one import (the faults and responders are defined in testing_replies).
__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultPlan",
    "LocalServer",
    "Reply",
    "Responder",
    "TransformersResponder",
    "completion_json",
    "cycle_faults",
    "echo",
    "main",
    "serve",
    "torch_threads",
]

if __name__ == "__main__":
    main()
