"""Generation backends behind one protocol (``Backend.generate``), chosen by name.

=============== =================================================== ==========================
name            what                                                 needs
=============== =================================================== ==========================
``openai``      any OpenAI-compatible server (vLLM, transformers     ``base_url`` (+ api key)
                serve, hosted APIs), async, rate-limited, retried
``transformers`` a local causal LM, batched ``generate``            a model path or hub name
``vllm``        vLLM offline engine                                  a CUDA GPU and ``vllm``
``symbolic``    structured word problems with exact answers (no LLM) nothing (registered by
                                                                     ``wizardmath.evol``)
``fake``        deterministic responses for tests                    nothing
=============== =================================================== ==========================

This package is the bottom of the generation stack and names no package above it: a backend
defined higher up registers itself (``register_backend``), and any ``"package.module:Class"`` works
as a name too, so a plugin needs no entry here.
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
    "fake": "wizardmath.backends.base:FakeBackend",
}


def register_backend(name: str, target: str) -> None:
    """Make ``get_backend(name)`` build ``target`` (``"package.module:Class"``, imported on first use)."""
    if target.count(":") != 1:
        raise ValueError(f"backend '{name}': target must be 'package.module:Class', got {target!r}")
    BACKENDS[name] = target


def get_backend(name: str, **kwargs: Any) -> Backend:
    """Build the backend registered as ``name`` (or named ``"package.module:Class"``) with ``kwargs``."""
    target = BACKENDS.get(name, name if name.count(":") == 1 else None)
    if target is None:
        raise ValueError(f"unknown backend '{name}'; valid: {', '.join(BACKENDS)} or 'package.module:Class'")
    module, cls = target.split(":")
    backend_cls = getattr(importlib.import_module(module), cls)
    _check_arguments(name, backend_cls, kwargs)
    return backend_cls(**kwargs)


def _check_arguments(name: str, backend_cls: type, kwargs: dict[str, Any]) -> None:
    """One clear line for an argument the backend does not take (say, a ``backend_args`` key of the
    symbolic backend left in a YAML config when ``--backend openai`` is given), not a TypeError."""
    import inspect

    parameters = inspect.signature(backend_cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"backend '{name}' does not take {', '.join(map(repr, unknown))} (from backend_args, or a "
            f"setting it does not use); it takes: {', '.join(sorted(accepted))}"
        )


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
    "register_backend",
]
