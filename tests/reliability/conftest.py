"""The ``servers`` fixture: loopback OpenAI servers that a test can kill, all stopped at the end."""

from __future__ import annotations

import contextlib

import pytest
from fault_helpers import Server


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(responder, port: int = 0, delay: float = 0.0) -> Server:
        server = Server(responder, port, delay)
        started.append(server)
        return server

    yield start
    for server in started:
        with contextlib.suppress(OSError):
            server.kill()
