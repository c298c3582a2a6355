from __future__ import annotations

import hashlib
import time

import pytest

from wizardmath.tiny import TinyConfig, init_tiny


def test_tiny_model_loads_and_generates(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert isinstance(model, LlamaForCausalLM)
    assert 100_000 <= sum(p.numel() for p in model.parameters()) <= 1_000_000  # ~0.15M
    assert tokenizer.pad_token == "<pad>" and tokenizer.eos_token == "</s>"
    assert not tokenizer.chat_template  # a base model by default: template 'auto' means WizardMath
    inputs = tokenizer(["Tom has 12 apples."], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_digits_are_one_token_each(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokens = tokenizer.tokenize("He has 12345 + 678 pens")
    digits = [t for t in tokens if any(c.isdigit() for c in t)]
    assert [t.lstrip("Ġ") for t in digits] == list("12345678")  # one digit per token
    assert digits[0] == "Ġ1" and digits[5] == "Ġ6"  # a number's leading space rides on its first digit
    assert tokenizer.decode(tokenizer("The answer is: 1,024").input_ids) == "The answer is: 1,024"


def test_prompt_template_text_is_two_tokens_and_round_trips(tiny_model_dir):
    from transformers import AutoTokenizer

    from wizardmath.data.templates import format_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    problem = "Tom has 12 pens. He buys 3 more pens. How many pens does Tom have now?"
    prompt = format_prompt(problem, "wizardmath")
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert len(ids) == 2 + len(tokenizer(problem, add_special_tokens=False)["input_ids"])
    assert tokenizer.decode(ids) == prompt
    assert (
        tokenizer.decode(tokenizer(prompt + " Step 1: x").input_ids, skip_special_tokens=True)
        == prompt + " Step 1: x"
    )


def _digest(folder) -> str:
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_deterministic_and_fast(tmp_path):
    start = time.perf_counter()
    a = init_tiny(TinyConfig(output=str(tmp_path / "a"), seed=3))
    assert time.perf_counter() - start < 30
    b = init_tiny(TinyConfig(output=str(tmp_path / "b"), seed=3))
    c = init_tiny(TinyConfig(output=str(tmp_path / "c"), seed=4))
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        TinyConfig(hidden_size=100, num_attention_heads=3)
