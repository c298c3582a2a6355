"""Helpers for the fault tests (imported by name; the ``servers`` fixture is in conftest.py): a
symbolic-world OpenAI server that can be killed and restarted on the same port, evolve flags for it,
and reading what a run left on disk."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

from wizardmath.backends import prompt_text
from wizardmath.backends.testing import LocalServer
from wizardmath.evol.symbolic import SymbolicBackend


def symbolic_responder(kill_after: int | None = None, on_kill=None):
    """Answers as the symbolic world does (deterministic per prompt and sample); after ``kill_after``
    requests it calls ``on_kill`` once (from another thread) to take the server down mid-run."""
    world = SymbolicBackend(seed=0)
    seen = {"n": 0}
    lock = threading.Lock()

    def respond(prompt, body):
        with lock:
            seen["n"] += 1
            if kill_after is not None and seen["n"] == kill_after and on_kill is not None:
                threading.Thread(target=on_kill, daemon=True).start()
        text = prompt_text(prompt)
        return [world.respond(text, random.Random(f"{text}|{i}"))[0] for i in range(int(body.get("n") or 1))]

    return respond


class Server:
    """A loopback server that can be stopped and started again on the same port."""

    def __init__(self, responder, port: int = 0, delay: float = 0.0):
        self.server = LocalServer(responder, None, delay, 30.0, None, False, "test-model", port=port)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def evolve_flags(out: Path, base_url: str, num_seeds: int = 6, **extra: str) -> list[str]:
    """evolve over HTTP: one round of 3 rewrites per seed, the judge and 2 solver samples, no retries
    in the client (so an outage shows at once)."""
    values = {
        "--backend": "openai",
        "--model": "test-model",
        "--base_url": base_url,
        "--output": str(out),
        "--num_seeds": str(num_seeds),
        "--rounds": "down",
        "--round_parents": "seeds",
        "--fanout": "3",
        "--solver_samples": "2",
        "--agreement_threshold": "0.5",
        "--decontaminate": "false",
        "--progress": "false",
        "--chunk_size": "4",
        **extra,
    }
    flags = [item for pair in values.items() for item in pair]
    return ["evolve", *flags, "--backend_args", "max_retries=0", "timeout=5", "concurrency=2"]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcome(folder: Path) -> dict[str, str]:
    """``{id: "accepted" | reason}`` over problems.jsonl and rejected.jsonl; fails on a doubled id."""
    out: dict[str, str] = {}
    for name in ("problems.jsonl", "rejected.jsonl"):
        for record in records(folder / name):
            assert record["id"] not in out, f"{record['id']} written twice"
            out[record["id"]] = record.get("reason", "accepted")
    return out
