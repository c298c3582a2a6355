"""The local transformers backend: answer-line stopping, left-padded batching, samples and seeds.

Stopping is tested on a real ``LlamaForCausalLM`` whose weights are set by hand to follow a fixed
token chain (a "bigram" model: attention and MLP outputs zeroed, each chain token's embedding a
basis vector, the LM head mapping it to its successor), so the test knows exactly what the model
will write, without training, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wizardmath.backends import SamplingParams, get_backend
from wizardmath.backends.transformers_backend import (
    TransformersBackend,
    finished_answer_line,
    resolve_dtype,
    trim_at_answer_line,
)


# -- the pure text helpers ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Step 1: 3.\nThe answer is: 3\nStep 2: more", "Step 1: 3.\nThe answer is: 3"),
        ("The answer is: 3\n\n### Instruction: next", "The answer is: 3"),
        ("the answer is 3.\nmore", "the answer is 3."),  # lower case, no colon
        (
            "The answer is:\n\n$\\frac{1}{2}$\nmore",
            "The answer is:\n\n$\\frac{1}{2}$",
        ),  # answer on the next line
        ("The answer is: 3", "The answer is: 3"),  # unfinished line: nothing to cut
        ("no marker\nat all\n", "no marker\nat all\n"),
    ],
)
def test_trim_at_answer_line(text: str, expected: str) -> None:
    assert trim_at_answer_line(text) == expected


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("The answer is: 42\n", True),
        ("Step 1\nThe answer is: 42\n\n", True),  # a token holding two newlines
        ("The answer is: 42\nSt", True),  # the newline token carried more text
        ("The answer is: 42", False),  # line not finished
        ("The answer is:\n", False),  # nothing after the marker yet
        ("The answer is:\n\n$\\frac{1}{2}$\n", True),  # answer on the next line
        ("Step 1: 6 * 7 = 42\n", False),
    ],
)
def test_finished_answer_line(text: str, done: bool) -> None:
    assert finished_answer_line(text) is done


def test_dtype_auto_is_fp32_on_cpu() -> None:
    import torch

    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("bf16", "cpu") is torch.bfloat16
    with pytest.raises(ValueError, match="valid: auto"):
        resolve_dtype("int3", "cpu")


# -- a model that writes a known text --------------------------------------------------------------
CHAIN_A = ["The", " answer", " is", ":", " ", "1", "7", "\n", "M", "ore"]  # then eos
CHAIN_B = ["O", "k", " s", "o", "."]  # then into CHAIN_A
PROMPT_A = "Add ten and seven, please?"
PROMPT_B = "Add them!"


def chain_model(model_dir: Path):
    """A tiny LLaMA that continues PROMPT_A with CHAIN_A and PROMPT_B with CHAIN_B + CHAIN_A."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = {}
    for piece in {*CHAIN_A, *CHAIN_B}:
        [ids[piece]] = [i for i in range(len(tok)) if tok.decode([i]) == piece][:1]
    last_a = tok(PROMPT_A)["input_ids"][-1]
    last_b = tok(PROMPT_B)["input_ids"][-1]
    nxt = {last_a: ids["The"], last_b: ids["O"]}
    for chain, end in ((CHAIN_A, tok.eos_token_id), (CHAIN_B, ids["The"])):
        for here, after in zip(chain, [*chain[1:], None], strict=True):
            nxt[ids[here]] = ids[after] if after else end
    config = AutoConfig.from_pretrained(model_dir)
    config.tie_word_embeddings = False
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.zero_()
        model.lm_head.weight.zero_()
        for dim, (token, successor) in enumerate(nxt.items()):
            model.model.embed_tokens.weight[token, dim] = 1.0
            model.lm_head.weight[successor, dim] = 10.0
    return model, tok


@pytest.fixture(scope="module")
def chain(tiny_model_dir: Path):
    return chain_model(tiny_model_dir)


def test_each_row_stops_at_its_answer_line(chain) -> None:
    model, tok = chain
    backend = TransformersBackend(model, tokenizer=tok, batch_size=4)
    [[a], [b]] = backend.generate([PROMPT_A, PROMPT_B], SamplingParams(max_new_tokens=40))
    assert (a.text, a.finish_reason, a.completion_tokens) == ("The answer is: 17", "stop", 8)
    assert (b.text, b.finish_reason, b.completion_tokens) == ("Ok so.The answer is: 17", "stop", 13)
    assert a.prompt_tokens == len(tok(PROMPT_A)["input_ids"])


def test_without_answer_stop_it_runs_to_eos_or_the_limit(chain) -> None:
    model, tok = chain
    backend = TransformersBackend(model, tokenizer=tok, stop_at_answer=False)
    [[a], [b]] = backend.generate([PROMPT_A, PROMPT_B], SamplingParams(max_new_tokens=12))
    assert (a.text, a.finish_reason, a.completion_tokens) == ("The answer is: 17\nMore", "stop", 11)
    assert (b.text, b.finish_reason, b.completion_tokens) == ("Ok so.The answer is: 17", "length", 12)


def test_stop_strings_cut_the_text(chain) -> None:
    model, tok = chain
    backend = TransformersBackend(model, tokenizer=tok, stop_at_answer=False)
    [[a]] = backend.generate([PROMPT_A], SamplingParams(max_new_tokens=30, stop=(" is",)))
    assert (a.text, a.finish_reason) == ("The answer", "stop")
    assert a.completion_tokens <= 4


# -- the untrained tiny model: batching and sampling --------------------------------------------------
PROMPTS = [
    "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many in all?",
    "Weng earns $12 an hour.",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs.",
    "1 + 1 =",
    "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
]


@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time(tiny_model_dir: Path) -> None:
    backend = get_backend("transformers", model=str(tiny_model_dir), batch_size=8)
    sampling = SamplingParams(max_new_tokens=12)
    batched = backend.generate(PROMPTS, sampling)
    backend.batch_size = 1
    single = backend.generate(PROMPTS, sampling)
    assert [g[0].text for g in batched] == [g[0].text for g in single]
    assert all(g[0].completion_tokens == 12 and g[0].finish_reason == "length" for g in batched)


@pytest.mark.slow
def test_n_samples_and_seeds(tiny_model_dir: Path) -> None:
    backend = TransformersBackend(str(tiny_model_dir), batch_size=2)
    sampling = SamplingParams(temperature=1.0, n=3, max_new_tokens=8, seed=7)
    first = backend.generate(PROMPTS[:3], sampling)
    assert [len(g) for g in first] == [3, 3, 3]
    texts = [[x.text for x in g] for g in first]
    assert texts == [[x.text for x in g] for g in backend.generate(PROMPTS[:3], sampling)]
    other = backend.generate(PROMPTS[:3], SamplingParams(temperature=1.0, n=3, max_new_tokens=8, seed=8))
    assert texts != [[x.text for x in g] for g in other]
    assert len({t for g in texts for t in g}) > 3  # samples differ from each other


def test_chat_prompts_use_the_chat_template(tiny_chat_model_dir: Path) -> None:
    backend = TransformersBackend(str(tiny_chat_model_dir))
    text = backend.render([{"role": "user", "content": "1+1?"}])
    assert text == "<|user|>\n1+1?</s>\n<|assistant|>\n"


def test_loaded_model_needs_a_tokenizer(chain) -> None:
    model, _ = chain
    model.name_or_path = ""
    with pytest.raises(ValueError, match="pass tokenizer="):
        TransformersBackend(model)
