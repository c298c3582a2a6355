"""The vLLM backend: guarded on machines without vLLM or a GPU; real generation where both exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from wizardmath.backends import SamplingParams, get_backend
from wizardmath.backends.vllm_backend import require_vllm, vllm_available

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here; the missing-package message cannot be seen")
def test_without_vllm_the_error_says_how_to_install() -> None:
    assert not vllm_available()
    with pytest.raises(ImportError, match="pip install vllm"):
        get_backend("vllm", model="any")


def test_without_a_gpu_the_error_points_to_the_transformers_backend() -> None:
    import torch

    if torch.cuda.is_available() and HAS_VLLM:
        pytest.skip("vLLM and a GPU are both here; nothing to refuse")
    with pytest.raises((ImportError, RuntimeError), match="--backend transformers"):
        require_vllm()


@pytest.mark.gpu
@pytest.mark.skipif(not vllm_available(), reason="needs vLLM and a CUDA GPU (pip install vllm)")
def test_vllm_generates_n_samples_and_cuts_at_the_answer_line(tiny_model_dir: Path) -> None:
    backend = get_backend("vllm", model=str(tiny_model_dir), gpu_memory_utilization=0.3, max_model_len=1024)
    try:
        out = backend.generate(
            ["1 + 1 =", "Weng earns $12 an hour."],
            SamplingParams(temperature=1.0, n=3, max_new_tokens=16, seed=0),
        )
        assert [len(g) for g in out] == [3, 3]
        assert all(
            0 < x.completion_tokens <= 16 and x.finish_reason in ("stop", "length") for g in out for x in g
        )
        greedy = backend.generate(["1 + 1 ="], SamplingParams(max_new_tokens=16))
        assert greedy == backend.generate(["1 + 1 ="], SamplingParams(max_new_tokens=16))
    finally:
        backend.close()
