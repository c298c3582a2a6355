"""Generation backends behind one protocol (``Backend.generate``), chosen by name.

=============== =================================================== ==========================
name            what                                                 needs
=============== =================================================== ==========================
``openai``      any OpenAI-compatible server (vLLM, transformers     ``base_url`` (+ api key)
                serve, hosted APIs), async, rate-limited, retried
``transformers`` a local causal LM, batched ``generate``            a model path or hub name
``vllm``        vLLM offline engine                                  a CUDA GPU and ``vllm``
``symbolic``    structured word problems with exact answers (no LLM) nothing
``fake``        deterministic responses for tests                    nothing
=============== =================================================== ==========================
"""

from __future__ import annotations

import importlib
from typing import Any

from wizardmath.backends.base import (
    AsyncBackend,
    Backend,
    FakeBackend,
    Generation,
    Message,
    Prompt,
    SamplingParams,
    prompt_text,
)

# name -> "module:Class"; imported on use so optional dependencies stay optional.
BACKENDS: dict[str, str] = {
    "openai": "wizardmath.backends.openai_backend:OpenAIBackend",
    "transformers": "wizardmath.backends.transformers_backend:TransformersBackend",
    "vllm": "wizardmath.backends.vllm_backend:VLLMBackend",
    "symbolic": "wizardmath.evol.symbolic:SymbolicBackend",
    "fake": "wizardmath.backends.base:FakeBackend",
}


def get_backend(name: str, **kwargs: Any) -> Backend:
    """Build the backend registered as ``name`` with ``kwargs``."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = [
    "BACKENDS",
    "AsyncBackend",
    "Backend",
    "FakeBackend",
    "Generation",
    "Message",
    "Prompt",
    "SamplingParams",
    "get_backend",
    "prompt_text",
]
