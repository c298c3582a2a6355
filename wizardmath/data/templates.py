"""Prompt templates and the WizardMath answer format.

``wizardmath`` is the Alpaca-style template the WizardMath models were trained and evaluated with;
``chat`` renders the problem through the tokenizer's chat template (instruct models); ``raw`` is
the bare problem. ``auto``, every stage's default, is ``chat`` when the model's tokenizer has a chat
template (or the model is served over HTTP, where the server applies its own) and ``wizardmath``
otherwise (``resolve_template``); set ``--template wizardmath`` to prompt a chat model without its
template. Responses end with ``The answer is: X``, the line WizardMath's evaluation reads.

The chat-or-template choice lives here alone: ``build_prompt`` is what a stage sends a backend
(messages under ``chat``, rendered text otherwise) and ``chat_text`` is how a local tokenizer turns
messages into text (its chat template, or the contents joined when it has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

Message = dict[str, str]
Prompt = Union[str, list[Message]]  # noqa: UP007 (runtime alias)

WIZARDMATH_TEMPLATE = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response: Let's think step by step."
)
CHAT_INSTRUCTION = '{instruction}\nSolve it step by step, and end with "The answer is: X".'
ANSWER_PREFIX = "The answer is: "
TEMPLATES = ("auto", "wizardmath", "chat", "raw")


def resolve_template(template: str, tokenizer: Any = None) -> str:
    """``auto`` made concrete: ``chat`` when ``tokenizer`` has a chat template, else ``wizardmath``."""
    if template != "auto":
        return template
    return "chat" if getattr(tokenizer, "chat_template", None) else "wizardmath"


def has_chat_template(model: str | None) -> bool:
    """Whether the tokenizer of ``model`` (a local folder or a hub name) has a chat template; a local
    folder is read from its files without loading the tokenizer."""
    import json
    from pathlib import Path

    if not model:
        return False
    folder = Path(model)
    if folder.is_dir():
        if any((folder / name).is_file() for name in ("chat_template.jinja", "chat_template.json")):
            return True
        config = folder / "tokenizer_config.json"
        try:
            settings = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
            return bool(settings.get("chat_template"))
        except (OSError, ValueError):
            return False
    from wizardmath.models import load_tokenizer

    try:
        return bool(getattr(load_tokenizer(model), "chat_template", None))
    except (OSError, ValueError):  # not reachable (offline) or not a model: loading it will say so
        return False


def template_for_model(template: str, model: str | None, served: bool = False) -> str:
    """``auto`` for a stage that has a model name but no tokenizer at hand: ``chat`` for a model served
    over HTTP (the server applies its template) or one whose tokenizer has a chat template."""
    if template != "auto":
        return template
    return "chat" if served or has_chat_template(model) else "wizardmath"


def template_for_backend(template: str, backend: Any) -> str:
    """``auto`` for a stage that prompts a generation backend: its tokenizer decides (a local model),
    a chat endpoint means ``chat`` (a server applies its own template), anything else ``wizardmath``."""
    if template != "auto":
        return template
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        return resolve_template("auto", tokenizer)
    return "chat" if getattr(backend, "chat", False) else "wizardmath"


def format_prompt(problem: str, template: str = "wizardmath", tokenizer: Any = None) -> str:
    """The text a model is given for ``problem`` under ``template`` (``auto`` resolved by ``tokenizer``)."""
    template = resolve_template(template, tokenizer)
    if template == "wizardmath":
        return WIZARDMATH_TEMPLATE.format(instruction=problem.strip())
    if template == "raw":
        return problem.strip()
    if template == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "template 'chat' needs a tokenizer with a chat template; use 'wizardmath' or 'raw'"
            )
        text = chat_text(chat_messages(problem), tokenizer)
        # PPO, GRPO and the PRM tokenize this text with the tokenizer's special tokens, which add the BOS
        # again when the template writes it (Llama-3): keep one.
        bos = getattr(tokenizer, "bos_token", None)
        return text[len(bos) :] if bos and text.startswith(bos) and _adds_bos(tokenizer) else text
    raise ValueError(f"unknown template '{template}'; valid: {', '.join(TEMPLATES)}")


def build_prompt(problem: str, template: str) -> Prompt:
    """What a stage sends a backend: ``chat`` stays messages, so each backend applies its own chat
    template (the tokenizer's locally, the server's over HTTP); other templates are rendered here.
    ``auto`` must be resolved against the model first (``template_for_model``)."""
    if template == "auto":
        raise ValueError("template 'auto' must be resolved against the model first (template_for_model)")
    if template == "chat":
        return chat_messages(problem)
    return format_prompt(problem, template)


def prompt_text(prompt: Prompt) -> str:
    """A chat prompt flattened to text, for backends without a chat template."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(m["content"] for m in prompt)


def chat_text(prompt: Prompt, tokenizer: Any) -> str:
    """Text for a local model: messages through the tokenizer's chat template (with the generation
    prompt), flattened when it has none; a string is already text."""
    if isinstance(prompt, str):
        return prompt
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return prompt_text(prompt)


def _adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer("x", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def problem_from_prompt(prompt: str) -> str:
    """The problem inside a WizardMath, chat or raw prompt (the inverse of ``format_prompt``).

    For the symbolic backend, which like a model sees only the prompt; stages read the raw
    ``problem`` that ``solve`` writes beside each prompt instead."""
    if "### Instruction:\n" in prompt:
        prompt = prompt.split("### Instruction:\n", 1)[1].split("\n\n### Response", 1)[0]
    suffix = CHAT_INSTRUCTION.replace("{instruction}", "")
    if suffix and suffix in prompt:
        prompt = prompt.split(suffix, 1)[0]
    return prompt.strip()


def chat_messages(problem: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": CHAT_INSTRUCTION.format(instruction=problem.strip())}]


def format_solution(steps: Sequence[str], answer: str) -> str:
    """Steps as ``Step 1: ...`` lines, then ``The answer is: X`` (the WizardMath response format).

    The completion starts with a space because the prompt ends "Let's think step by step."
    """
    lines = [f"Step {i}: {step.strip()}" for i, step in enumerate(steps, start=1)]
    return " " + "\n".join([*lines, f"{ANSWER_PREFIX}{answer}"])
