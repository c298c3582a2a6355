"""The chat-template recipes (Qwen2.5, Llama-3.1) end to end on the tiny model's tokenizer, which carries a
chat template: prompts render through it once (one BOS), solve's conversational rows feed label-prm, and
the sampled solutions are labelled with the answer line eval reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wizardmath.data.templates import ANSWER_PREFIX, CHAT_INSTRUCTION, format_prompt


@pytest.fixture(scope="module")
def bos_template_model(tiny_chat_model_dir, tmp_path_factory) -> Path:
    """The tiny model made Llama-3-like: the tokenizer adds a BOS and the chat template writes one too."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("chat") / "model"
    shutil.copytree(tiny_chat_model_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    bos = (tokenizer.bos_token, tokenizer.bos_token_id)
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos[0]} $A", special_tokens=[bos]
    )
    tokenizer.chat_template = "{{ bos_token }}" + tokenizer.chat_template
    tokenizer.save_pretrained(folder)
    return folder


def test_chat_prompt_renders_the_template_and_keeps_one_bos(tiny_chat_model_dir, bos_template_model):
    from transformers import AutoTokenizer

    for folder in (tiny_chat_model_dir, bos_template_model):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        text = format_prompt("What is 2 + 3?", "chat", tokenizer)
        assert "<|user|>" in text and text.rstrip().endswith("<|assistant|>")
        assert "What is 2 + 3?" in text and CHAT_INSTRUCTION.split("{instruction}")[1].strip() in text
        ids = tokenizer(text)["input_ids"]  # what PPO, GRPO and the PRM do
        assert ids.count(tokenizer.bos_token_id) <= 1
    raw = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert (
        tokenizer(raw)["input_ids"].count(tokenizer.bos_token_id) == 2
    )  # the double BOS format_prompt avoids


def test_prm_encodes_chat_prompts_with_one_bos(bos_template_model):
    from transformers import AutoTokenizer

    from reward_models.prm import StepFormat, encode_steps

    tokenizer = AutoTokenizer.from_pretrained(bos_template_model)
    ids, _ = encode_steps(
        tokenizer, "What is 2 + 3?", ["2 + 3 = 5", f"{ANSWER_PREFIX}5"], StepFormat("chat", "", "\n"), 256
    )
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id
    assert "<|assistant|>" in tokenizer.decode(ids)


def test_label_prm_with_chat_template_reads_solve_rows_and_samples(bos_template_model, tmp_path):
    from reward_models.labelers import LabelConfig, label_prm

    rows = [
        {
            "id": f"p{i}",
            "problem": f"What is {i} + 2?",
            "prompt": [{"role": "user", "content": CHAT_INSTRUCTION.format(instruction=f"What is {i} + 2?")}],
            "completion": [
                {"role": "assistant", "content": f"Step 1: {i} + 2 = {i + 2}\n{ANSWER_PREFIX}{i + 2}"}
            ],
            "answer": str(i + 2),
        }
        for i in range(3)
    ]
    solutions = tmp_path / "sft.jsonl"
    solutions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.jsonl"
    label_prm(LabelConfig(solutions_path=str(solutions), output=str(out), template="chat"))
    labelled = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in labelled] == [
        f"What is {i} + 2?" for i in range(3)
    ]  # the problem, not the instruction
    assert all(r["labels"][-1] is True for r in labelled)  # the answer line is right

    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
            for i in range(2)
        )
    )
    sampled = tmp_path / "sampled.jsonl"
    label_prm(
        LabelConfig(
            model=str(bos_template_model),
            data_path=str(problems),
            output=str(sampled),
            template="chat",
            num_samples=2,
            max_new_tokens=24,
            batch_size=4,
        )
    )
    assert sampled.exists()  # the tiny model's samples went through the chat template without error


def test_mc_labeller_continues_a_rendered_chat_prompt(bos_template_model):
    from reward_models.labelers import prompt_text
    from wizardmath.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(bos_template_model), device="cpu")
    text = prompt_text(backend, "What is 2 + 3?", "chat")
    assert text.rstrip().endswith("<|assistant|>") and "What is 2 + 3?" in text
    with pytest.raises(ValueError, match="transformers or vllm"):
        prompt_text(object(), "What is 2 + 3?", "chat")


# ------------------------------------------------------- template 'auto', and solve -> sft per recipe
def test_auto_template_follows_the_model(tiny_model_dir, tiny_chat_model_dir):
    from transformers import AutoTokenizer

    from wizardmath.data import resolve_template, template_for_model

    assert template_for_model("auto", str(tiny_model_dir)) == "wizardmath"  # a base model
    assert template_for_model("auto", str(tiny_chat_model_dir)) == "chat"  # an instruct model
    assert template_for_model("auto", "served-name", served=True) == "chat"  # the server applies its own
    assert (
        template_for_model("wizardmath", str(tiny_chat_model_dir)) == "wizardmath"
    )  # the flag that turns it off
    assert resolve_template("auto", AutoTokenizer.from_pretrained(tiny_chat_model_dir)) == "chat"
    with pytest.raises(ValueError, match="must be resolved"):
        from wizardmath.data.templates import build_prompt

        build_prompt("1 + 1?", "auto")


@pytest.mark.slow
@pytest.mark.parametrize(
    "model_fixture, expected", [("tiny_chat_model_dir", "chat"), ("tiny_model_dir", "wizardmath")]
)
def test_eval_prompts_a_chat_model_in_its_template_by_default(request, model_fixture, expected, tmp_path):
    from wizardmath.eval import EvalConfig, evaluate

    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": "What is 2 + 3?", "answer": "5"}) + "\n")
    model = request.getfixturevalue(model_fixture)
    summary = evaluate(
        EvalConfig(
            model=str(model),
            dataset="jsonl",
            data_path=str(data),
            max_new_tokens=4,
            output=str(tmp_path / "o"),
            progress=False,
            device="cpu",
        )
    )
    assert summary["settings"]["template"] == expected


CHAT_RECIPES = ["qwen2.5-math-1.5b", "qwen2.5-7b", "llama3.1-8b", "smol"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", CHAT_RECIPES)
def test_each_chat_recipe_trains_sft_on_what_its_solve_wrote(recipe, tiny_chat_model_dir, tmp_path):
    """The joint run_rleif.sh crosses: the recipe's solve.yaml (its teacher replaced by a local server
    that answers right) writes sft.jsonl, and the recipe's sft.yaml trains on it as it is (tiny chat
    model, CPU)."""
    from wizardmath.backends import testing
    from wizardmath.config import parse_config
    from wizardmath.evol import SolveConfig, solve
    from wizardmath.train.sft import SFTConfig, train_sft

    repo = Path(__file__).resolve().parents[2]
    problems = tmp_path / "problems.jsonl"
    rows = [{"id": f"p{i}", "problem": f"What is {i} + 4?", "answer": str(i + 4)} for i in range(4)]
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = {r["problem"]: r["answer"] for r in rows}

    def teacher(prompt, body):
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        answer = next(a for p, a in answers.items() if p in text)
        return [f"Step 1: add.\n{ANSWER_PREFIX}{answer}"] * int(body.get("n") or 1)

    with testing.serve(teacher) as server:
        solve_config = parse_config(
            SolveConfig,
            [
                "--config",
                str(repo / f"configs/{recipe}/solve.yaml"),
                "--backend",
                "openai",
                "--base_url",
                server.base_url,
                "--model",
                "test-model",
                "--backend_args",
                "concurrency=2",
                "--data_path",
                str(problems),
                "--output",
                str(tmp_path / "solve"),
                "--no_progress",
            ],
        )
        solve(solve_config)
    written = [json.loads(line) for line in (tmp_path / "solve" / "sft.jsonl").read_text().splitlines()]
    assert len(written) == 4 and all(isinstance(r["prompt"], list) for r in written)  # conversational rows
    sft_config = parse_config(
        SFTConfig,
        [
            "--config",
            str(repo / f"configs/{recipe}/sft.yaml"),
            "--model",
            str(tiny_chat_model_dir),
            "--data_path",
            str(tmp_path / "solve" / "sft.jsonl"),
            "--output_dir",
            str(tmp_path / "sft"),
            "--max_steps",
            "1",
            "--per_device_train_batch_size",
            "2",
            "--gradient_accumulation_steps",
            "1",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
            "--torch_dtype",
            "float32",
            "--gradient_checkpointing",
            "false",
            "--report_to",
            "none",
            "--max_length",
            "256",
            "--save_steps",
            "1",
            "--disable_tqdm",
            "true",
        ],
    )
    assert train_sft(sft_config)["steps"] == 1
