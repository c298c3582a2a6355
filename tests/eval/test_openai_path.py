"""``wizardmath eval --base-url``: the OpenAI-compatible path over real HTTP on loopback.

The server is ``wizardmath.backends.testing`` (a stdlib ``ThreadingHTTPServer`` speaking the
completions and chat-completions API); the client is the real ``openai`` package. Nothing is mocked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardmath.cli import main
from wizardmath.data import load_problems
from wizardmath.eval import EvalConfig, evaluate

testing = pytest.importorskip(
    "wizardmath.backends.testing", reason="the OpenAI test server is not in this checkout"
)


def gold_responder(problems):
    """Answers like a model that gets every second problem right; ``n`` samples each."""
    by_text = {p.problem.strip(): (i, p.answer) for i, p in enumerate(problems)}

    def respond(prompt, body):
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        index, answer = next(v for k, v in by_text.items() if k in text)
        final = answer if index % 2 == 0 else f"{answer}1"
        return [
            f" Step 1: compute.\nThe answer is: {final}\n\n### Instruction: more"
            for _ in range(int(body.get("n") or 1))
        ]

    return respond


def test_cli_base_url_text_completions(gsm8k_test: Path, tmp_path: Path) -> None:
    problems = load_problems("gsm8k", gsm8k_test, limit=6)
    with testing.serve(gold_responder(problems), faults=testing.cycle_faults(["server_error"])) as server:
        code = main(
            [
                "eval",
                "--base-url",
                server.base_url,
                "--model",
                "test-model",
                "--dataset",
                "gsm8k",
                "--data-path",
                str(gsm8k_test),
                "--limit",
                "6",
                "--max-new-tokens",
                "64",
                "--output",
                str(tmp_path),
                "--progress",
                "false",
                "--template",
                "wizardmath",  # text completions: a served model is prompted in chat by default
            ]
        )
        bodies, counts = list(server.bodies), dict(server.counts)
    assert code == 0
    assert counts["server_error"] == 6 and len(bodies) == 12  # each prompt failed once, then answered
    summary = json.loads((tmp_path / "gsm8k.summary.json").read_text())
    assert (summary["n"], summary["correct"]) == (6, 3)  # problems 0, 2, 4; the 500s were retried
    assert summary["settings"]["backend"] == "openai"
    records = [json.loads(line) for line in (tmp_path / "gsm8k.jsonl").read_text().splitlines()]
    assert all(
        r["completions"][0].endswith(f"The answer is: {r['answers'][0]}") for r in records
    )  # cut at the line
    assert all("prompt" in b and "Below is an instruction" in b["prompt"] for b in bodies)  # text completions
    assert all(b["max_tokens"] == 64 for b in bodies)


def test_chat_template_uses_chat_completions_with_k_samples(gsm8k_test: Path, tmp_path: Path) -> None:
    problems = load_problems("gsm8k", gsm8k_test, limit=4)
    with testing.serve(gold_responder(problems)) as server:
        config = EvalConfig(
            base_url=server.base_url,
            model="test-model",
            dataset="gsm8k",
            data_path=str(gsm8k_test),
            limit=4,
            template="chat",
            num_samples=3,
            temperature=0.7,
            output=str(tmp_path),
            progress=False,
        )
        summary = evaluate(config)
        bodies = list(server.bodies)
    assert all("messages" in b and b["n"] == 3 for b in bodies)
    assert summary["pass@k"] == {"1": 0.5, "2": 0.5, "3": 0.5} and summary["maj@3"] == 0.5


@pytest.mark.slow
def test_served_tiny_model(tiny_model_dir: Path, gsm8k_test: Path, tmp_path: Path) -> None:
    # The tiny model behind the server: untrained, so only the plumbing is checked, not accuracy.
    with testing.serve(testing.TransformersResponder(str(tiny_model_dir))) as server:
        summary = evaluate(
            EvalConfig(
                base_url=server.base_url,
                model="test-model",
                dataset="gsm8k",
                data_path=str(gsm8k_test),
                limit=3,
                max_new_tokens=6,
                output=str(tmp_path),
                progress=False,
            )
        )
    records = [json.loads(line) for line in (tmp_path / "gsm8k.jsonl").read_text().splitlines()]
    assert summary["n"] == 3 and len(records) == 3
    assert all(0 < r["completion_tokens"][0] <= 6 and r["completions"][0] for r in records)
