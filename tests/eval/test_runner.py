"""The evaluation loop with in-memory problems and a real (fake) backend: output files, resume,
refusing to mix runs, backend failures, reranking and the pipeline's entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.backends import FakeBackend, Generation, SamplingParams
from wizardmath.eval import EvalConfig, evaluate, evaluate_problems

ANSWERS = {"1+1": "2", "2+2": "4", "half of 1": "0.5", "3*3": "9", "10-7": "4", "6/2": "3"}  # 10-7 is wrong


def respond(prompt: str, sample: int) -> str:
    problem = prompt.split("### Instruction:\n", 1)[1].split("\n", 1)[0]
    return f"Step 1: think.\nThe answer is: {ANSWERS[problem]}\nand then some rambling"


def config(tmp_path: Path, **kw) -> EvalConfig:
    kw = {
        "output": str(tmp_path / "out"),
        "progress": False,
        "verify_workers": 0,
        "dataset": "toy",
        "backend": "transformers",
        **kw,
    }
    return EvalConfig(**kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_results_and_summary(small_problems, tmp_path: Path) -> None:
    summary = evaluate_problems(small_problems, FakeBackend(respond), config(tmp_path))
    records = lines(tmp_path / "out" / "toy.jsonl")
    assert sorted(r["id"] for r in records) == list("abcdef")
    assert records[0]["completions"][0].endswith(
        "The answer is: " + records[0]["answers"][0]
    )  # cut at the answer line
    assert summary == json.loads((tmp_path / "out" / "toy.summary.json").read_text())
    assert (summary["n"], summary["correct"]) == (6, 5)
    assert summary["accuracy"] == pytest.approx(5 / 6, abs=1e-6)
    assert summary["by_level"]["3"] == {"n": 2, "accuracy": 0.5}
    assert summary["by_subject"]["Geometry"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert summary["settings"]["template"] == "wizardmath" and summary["wall_time_s"] > 0


def test_resume_skips_done_ids_and_gives_the_same_summary(small_problems, tmp_path: Path) -> None:
    clean = evaluate_problems(small_problems, FakeBackend(respond), config(tmp_path / "clean"))
    first = FakeBackend(respond)
    evaluate_problems(small_problems[:2], first, config(tmp_path / "resumed"))
    second = FakeBackend(respond)
    resumed = evaluate_problems(small_problems, second, config(tmp_path / "resumed"))
    assert len(second.calls) == 4  # a and b were not generated again
    assert len(lines(tmp_path / "resumed" / "out" / "toy.jsonl")) == 6
    drop = ("wall_time_s", "problems_per_s", "files")
    assert {k: v for k, v in resumed.items() if k not in drop} == {
        k: v for k, v in clean.items() if k not in drop
    }


def test_different_settings_are_refused_until_overwrite(small_problems, tmp_path: Path) -> None:
    evaluate_problems(small_problems, FakeBackend(respond), config(tmp_path))
    with pytest.raises(ValueError, match=r"other settings \(max_new_tokens: 512 -> 64\).*--overwrite"):
        evaluate_problems(small_problems, FakeBackend(respond), config(tmp_path, max_new_tokens=64))
    summary = evaluate_problems(
        small_problems, FakeBackend(respond), config(tmp_path, max_new_tokens=64, overwrite=True)
    )
    assert summary["n"] == 6 and summary["settings"]["max_new_tokens"] == 64


class FlakyBackend(FakeBackend):
    """Fails problem 'half of 1' once with a backend error, as an exhausted HTTP retry would."""

    def __init__(self) -> None:
        super().__init__(respond)
        self.failures_left = 1

    def generate(self, prompts, sampling: SamplingParams) -> list[list[Generation]]:
        out = super().generate(prompts, sampling)
        for prompt, gens in zip(prompts, out, strict=True):
            if "half of 1" in prompt and self.failures_left:
                self.failures_left -= 1
                gens[0] = Generation("", error="HTTP 500 after 6 retries")
        return out


def test_failed_generations_are_not_written_and_retried(small_problems, tmp_path: Path) -> None:
    backend = FlakyBackend()
    first = evaluate_problems(small_problems, backend, config(tmp_path))
    assert (first["n"], first["missing"]) == (5, 1)
    second = evaluate_problems(small_problems, backend, config(tmp_path))
    assert (second["n"], second["missing"]) == (6, 0)
    assert backend.calls[-1].count("half of 1") == 1 and len(backend.calls) == 7


def test_samples_and_rerank_hook(small_problems, tmp_path: Path) -> None:
    def sampled(prompt: str, sample: int) -> str:
        return respond(prompt, sample) if sample == 2 else "The answer is: 0"

    def scorer(problem, texts: list[str]) -> list[float]:  # a perfect reranker
        return [1.0 if not t.endswith(": 0") else 0.0 for t in texts]

    summary = evaluate(
        config(tmp_path, num_samples=3, temperature=0.7),
        problems=small_problems,
        backend=FakeBackend(sampled),
        scorer=scorer,
    )
    assert summary["pass@k"]["1"] == pytest.approx(5 / 18, abs=1e-6)
    assert summary["pass@k"]["3"] == pytest.approx(5 / 6, abs=1e-6)
    assert summary["maj@3"] == 0.0  # "0" wins every vote
    assert summary["rerank@3"] == pytest.approx(5 / 6, abs=1e-6)
    record = lines(tmp_path / "out" / "toy.jsonl")[0]
    assert len(record["scores"]) == 3 and "weighted_maj_correct" in record


def test_chat_template_sends_messages(small_problems, tmp_path: Path) -> None:
    seen = []

    class ChatBackend(FakeBackend):
        def generate(self, prompts, sampling):
            seen.extend(prompts)
            return [[Generation("The answer is: 2")] for _ in prompts]

    evaluate_problems(small_problems[:1], ChatBackend(), config(tmp_path, template="chat"))
    assert seen[0][0]["role"] == "user" and "1+1" in seen[0][0]["content"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"num_samples": 4}, "set --temperature"),
        ({"backend": "openai"}, "needs --base-url"),
        ({"rerank": "prm"}, "needs --prm PATH"),
        ({"rerank": "irm", "prm": "x"}, "valid: prm"),
        ({"answer_format": "latex"}, "valid: any, wizardmath, boxed, gsm8k"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
    ],
)
def test_config_errors_say_what_to_set(tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **kw)


def test_cli_without_model_or_completions_says_what_to_pass(tmp_path: Path, capsys) -> None:
    from wizardmath.cli import main

    data = tmp_path / "toy.jsonl"
    data.write_text(json.dumps({"id": "x", "problem": "1+1", "answer": "2"}) + "\n")
    assert (
        main(["eval", "--dataset", "jsonl", "--data-path", str(data), "--output", str(tmp_path / "o")]) == 1
    )
    assert "set --model" in capsys.readouterr().err


def test_build_backend_passes_eval_settings_and_backend_args(monkeypatch):
    from wizardmath.eval.runner import build_backend

    calls = []
    monkeypatch.setattr(
        "wizardmath.backends.get_backend", lambda name, **kw: calls.append((name, kw)) or name
    )
    build_backend(EvalConfig(model="m", batch_size=4, device="cpu", backend_args=["max_length=64"]))
    assert calls[-1] == (
        "transformers",
        {
            "max_length": 64,
            "model": "m",
            "batch_size": 4,
            "device": "cpu",
            "dtype": "auto",
            "stop_at_answer": True,
        },
    )
    build_backend(
        EvalConfig(base_url="http://x/v1", concurrency=3)
    )  # auto -> openai, the server's default model
    assert calls[-1] == (
        "openai",
        {"model": "default", "base_url": "http://x/v1", "api_key": None, "concurrency": 3, "chat": False},
    )
    with pytest.raises(ValueError, match="--base-url is for the openai backend"):
        EvalConfig(model="m", backend="transformers", base_url="http://x/v1")
    with pytest.raises(ValueError, match="wandb only"):
        EvalConfig(model="m", report_to="tensorboard")
