from __future__ import annotations

import pytest

from wizardmath.data import ANSWER_PREFIX, chat_messages, format_prompt, format_solution


def test_wizardmath_template_is_the_papers():
    prompt = format_prompt("  What is 2+2?  ")
    assert prompt.startswith("Below is an instruction that describes a task. Write a response")
    assert "### Instruction:\nWhat is 2+2?\n\n### Response: Let's think step by step." in prompt
    assert prompt.endswith("Let's think step by step.")


def test_raw_and_unknown_templates():
    assert format_prompt(" 1+1? ", "raw") == "1+1?"
    with pytest.raises(ValueError, match="valid: auto, wizardmath, chat, raw"):
        format_prompt("x", "alpaca")


def test_chat_template_needs_tokenizer():
    with pytest.raises(ValueError, match="chat template"):
        format_prompt("x", "chat")


def test_chat_template_with_tiny_tokenizer(tiny_chat_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model_dir)
    prompt = format_prompt("What is 2+2?", "chat", tokenizer)
    assert prompt.startswith("<|user|>\nWhat is 2+2?") and prompt.endswith("<|assistant|>\n")
    assert "The answer is: X" in chat_messages("q")[0]["content"]


def test_solution_format_ends_with_the_answer_line():
    text = format_solution(["3 + 4 = 7.", "7 * 2 = 14."], "14")
    assert text == " Step 1: 3 + 4 = 7.\nStep 2: 7 * 2 = 14.\n" + ANSWER_PREFIX + "14"


def test_build_prompt_and_chat_text_are_the_one_chat_or_template_choice(tiny_chat_model_dir):
    from transformers import AutoTokenizer

    from wizardmath.data.templates import build_prompt, chat_text

    assert build_prompt("What is 2+2?", "wizardmath") == format_prompt("What is 2+2?")
    assert build_prompt("What is 2+2?", "chat") == chat_messages(
        "What is 2+2?"
    )  # each backend renders messages its way
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model_dir)
    messages = chat_messages("What is 2+2?")
    assert chat_text(messages, tokenizer).startswith("<|user|>\nWhat is 2+2?")
    tokenizer.chat_template = None  # no template: the contents, flattened
    assert (
        chat_text(messages, tokenizer) == messages[0]["content"] and chat_text("as is", tokenizer) == "as is"
    )
