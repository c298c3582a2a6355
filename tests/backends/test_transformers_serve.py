"""The OpenAI path against real servers running the tiny model: ``transformers serve`` and our own.

Both must give, through ``OpenAIBackend``, exactly what greedy ``generate`` gives locally: the
same text and the same token counts. That pins down the whole chain (chat template, prompt
encoding, ``max_tokens``, decoding, usage) rather than checking that "something came back".
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from wizardmath.backends import SamplingParams
from wizardmath.backends.openai_backend import OpenAIBackend
from wizardmath.backends.testing import TransformersResponder, serve, torch_threads

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PROMPTS = ["What is 2 + 3?", "Tom has 5 apples and buys 7 more. How many apples does he have?"]
MAX_NEW = 8


@pytest.fixture(scope="module")
def responder(tiny_chat_model_dir: Path) -> TransformersResponder:
    return TransformersResponder(str(tiny_chat_model_dir))


@pytest.fixture(scope="module")
def model_server(responder):
    """Our test server answering with the tiny model (loaded once for the module)."""
    with serve(responder, model="tiny") as server:
        yield server


@pytest.fixture(scope="module")
def local_greedy(responder):
    """``(prompt, chat) -> (text, prompt_tokens, completion_tokens)`` from a local greedy generate.

    The same weights as the server's (loaded once), but its own encode / generate / decode code.
    """
    import torch

    tokenizer, model = responder.tokenizer, responder.model

    def run(prompt: str, chat: bool) -> tuple[str, int, int]:
        if chat:
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True
            )
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        else:
            ids = tokenizer(prompt)["input_ids"]
        with torch_threads(1), torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=MAX_NEW,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[0, len(ids) :].tolist()
        if tokenizer.eos_token_id in new:
            new = new[: new.index(tokenizer.eos_token_id)]
        return tokenizer.decode(new, skip_special_tokens=True), len(ids), len(new)

    return run


def check_greedy_matches(base_url: str, model: str, local_greedy) -> OpenAIBackend:
    for chat in (True, False):
        backend = OpenAIBackend(base_url=base_url, model=model, chat=chat, concurrency=2, timeout=90.0)
        out = backend.generate(PROMPTS, SamplingParams(max_new_tokens=MAX_NEW))
        got = [(gens[0].text, gens[0].prompt_tokens, gens[0].completion_tokens) for gens in out]
        assert got == [local_greedy(p, chat) for p in PROMPTS], f"chat={chat}"
        assert backend.stats["failures"] == 0 and backend.stats["retries_total"] == 0
    return backend


# ------------------------------------------------------------------ our own model server
def test_model_server_matches_local_greedy_generate(model_server, local_greedy):
    check_greedy_matches(model_server.base_url, "tiny", local_greedy)


def test_model_server_samples_n_with_a_seed_reproducibly(model_server):
    backend = OpenAIBackend(base_url=model_server.base_url, model="tiny")
    before = model_server.counts["requests"]
    sampling = SamplingParams(temperature=1.0, max_new_tokens=MAX_NEW, n=3, seed=1)
    first, again = (backend.generate(PROMPTS[:1], sampling)[0] for _ in range(2))
    other = backend.generate(
        PROMPTS[:1], SamplingParams(temperature=1.0, max_new_tokens=MAX_NEW, n=3, seed=2)
    )[0]
    assert [g.text for g in first] == [g.text for g in again]  # seeded: repeatable
    assert len({g.text for g in first}) > 1  # three samples, not one copied
    assert [g.text for g in first] != [g.text for g in other]
    assert model_server.counts["requests"] - before == 3  # n went in one request each time


def test_stop_strings_cut_the_text(model_server, local_greedy):
    text = local_greedy(PROMPTS[0], True)[0]
    stop = text[2:4]  # a piece of what greedy will write
    backend = OpenAIBackend(base_url=model_server.base_url, model="tiny")
    gen = backend.generate(PROMPTS[:1], SamplingParams(max_new_tokens=MAX_NEW, stop=(stop,)))[0][0]
    assert gen.text == text[: text.index(stop)] and gen.finish_reason == "stop"


# ------------------------------------------------------------------ transformers serve
def _serving_missing() -> str | None:
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        return f'transformers serve needs {", ".join(missing)}: pip install "transformers[serving]"'
    if shutil.which("transformers", path=os.path.dirname(sys.executable)) is None:
        return "no `transformers` command next to this Python"
    return None


@pytest.fixture(scope="module")
def transformers_serve(tiny_chat_model_dir: Path):
    """``transformers serve <tiny model>`` on a free loopback port; yields its base URL."""
    if (why := _serving_missing()) is not None:
        pytest.skip(why)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        shutil.which("transformers", path=os.path.dirname(sys.executable)),
        "serve",
        str(tiny_chat_model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    # One CPU thread: the tiny model gains nothing from more, and they thrash on a busy machine.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("transformers serve did not answer /health within 90 s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_transformers_serve_matches_local_greedy_generate(
    transformers_serve, tiny_chat_model_dir, local_greedy
):
    """It serves the model under its path; chat applies the tiny model's chat template."""
    check_greedy_matches(transformers_serve, str(tiny_chat_model_dir), local_greedy)


def test_transformers_serve_ignores_n_and_the_backend_tops_up(transformers_serve, tiny_chat_model_dir):
    backend = OpenAIBackend(base_url=transformers_serve, model=None, timeout=90.0)  # model from /v1/models
    gens = backend.generate(
        PROMPTS[:1], SamplingParams(max_new_tokens=MAX_NEW, n=2, temperature=1.0, seed=0)
    )[0]
    assert backend.model == str(tiny_chat_model_dir)
    assert len(gens) == 2 and all(g.text and g.error is None for g in gens)
    assert backend.stats["n_ignored"] == 1 and backend.stats["requests"] == 2
