"""vLLM's offline engine as a generation backend (GPU only).

vLLM batches continuously and pages its KV cache, so it takes every prompt at once and schedules
them itself; this class only maps ``SamplingParams`` onto vLLM's and vLLM's outputs onto
``Generation``. It is optional: ``pip install vllm`` on a machine with a CUDA GPU. Without either,
the constructor raises with what to do instead (the transformers backend runs anywhere).

vLLM stops on strings, not on "the end of the answer line", so with ``stop_at_answer`` the text is
cut there afterwards (the tokens past it are generated, then dropped: cheap on vLLM).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from wizardmath.backends.base import Backend, Generation, Prompt, SamplingParams
from wizardmath.backends.transformers_backend import trim_at_answer_line

INSTALL_HINT = "pip install vllm  (or: pip install 'wizardmath[vllm]'); it needs a CUDA GPU"


def vllm_available() -> bool:
    """True when ``vllm`` is importable and a CUDA device is visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def require_vllm() -> None:
    """Raise ``ImportError`` (no vllm) or ``RuntimeError`` (no GPU) with the fix in the message."""
    if importlib.util.find_spec("vllm") is None:
        raise ImportError(f"the vllm backend needs vLLM: {INSTALL_HINT}. On CPU use --backend transformers.")
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(
            "the vllm backend needs a CUDA GPU and none is visible; use --backend transformers on CPU"
        )


class VLLMBackend(Backend):
    """``vllm.LLM`` with one ``generate`` call for all prompts (chat prompts via ``LLM.chat``)."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        tokenizer: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        seed: int = 0,
        stop_at_answer: bool = True,
        **llm_kwargs: Any,
    ):
        require_vllm()
        from vllm import LLM

        self.model_name = model
        self.stop_at_answer = stop_at_answer
        self.llm = LLM(
            model=model,
            tokenizer=tokenizer or model,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            seed=seed,
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def sampling_params(self, sampling: SamplingParams) -> Any:
        from vllm import SamplingParams as VLLMSamplingParams

        return VLLMSamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
        )

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[list[Generation]]:
        params = self.sampling_params(sampling)
        texts = [p for p in prompts if isinstance(p, str)]
        chats = [p for p in prompts if not isinstance(p, str)]
        outputs: dict[int, Any] = {}
        if texts:
            done = self.llm.generate(texts, params, use_tqdm=False)
            outputs.update(zip([i for i, p in enumerate(prompts) if isinstance(p, str)], done, strict=True))
        if chats:
            done = self.llm.chat(chats, params, use_tqdm=False)
            outputs.update(
                zip([i for i, p in enumerate(prompts) if not isinstance(p, str)], done, strict=True)
            )
        return [self._generations(outputs[i]) for i in range(len(prompts))]

    def _generations(self, output: Any) -> list[Generation]:
        prompt_tokens = len(output.prompt_token_ids or [])
        out = []
        for sample in output.outputs:
            text = trim_at_answer_line(sample.text) if self.stop_at_answer else sample.text
            finish = "stop" if text != sample.text else sample.finish_reason
            out.append(Generation(text, prompt_tokens, len(sample.token_ids), finish))
        return out

    def close(self) -> None:
        """Free the GPU: vLLM holds its KV-cache pool until the engine is deleted."""
        import gc

        self.llm = None
        gc.collect()
        if importlib.util.find_spec("torch") is not None:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
