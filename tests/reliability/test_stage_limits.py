"""What a stage writes is valid input for the next: a server that ignores the length limit cannot put a
5 MB solution into sft.jsonl, and a reply with no content is a failed call to retry, not a wrong answer."""

from __future__ import annotations

import json

from fault_helpers import records, symbolic_responder

from wizardmath.backends.testing import Reply
from wizardmath.cli import main
from wizardmath.evol.symbolic import generate_problems
from wizardmath.jsonl import iter_jsonl, max_record_bytes, write_jsonl
from wizardmath.runstate import EXIT_INCOMPLETE


def solve_flags(data, out, base_url: str) -> list[str]:
    flags = {
        "--backend": "openai", "--model": "test-model", "--base_url": base_url, "--data-path": str(data),
        "--output": str(out), "--num_samples": "2", "--max_new_tokens": "256", "--progress": "false",
    }  # fmt: skip
    return ["solve", *[item for pair in flags.items() for item in pair], "--backend_args", "max_retries=1"]


def test_a_server_ignoring_max_tokens_cannot_write_what_sft_refuses(tmp_path, servers):
    data, out = tmp_path / "problems.jsonl", tmp_path / "solve"
    write_jsonl(data, (p.to_dict() for p in generate_problems(4, 0)))
    world = symbolic_responder()

    def runaway(prompt, body):  # every first sample: 5 MB of text, then the right solution
        texts = world(prompt, body)
        return ["7 " * 2_500_000 + texts[0], *texts[1:]]

    assert main(solve_flags(data, out, servers(runaway).base_url)) == 0
    for name in ("sft.jsonl", "sft_rejected.jsonl"):  # read as sft reads its input: every line bounded
        for _, row in iter_jsonl(out / name, max_bytes=max_record_bytes()):
            assert len(json.dumps(row)) < 64 * 1024
    accepted, rejected = records(out / "sft.jsonl"), records(out / "sft_rejected.jsonl")
    assert len(accepted) == 4  # the second samples solve every problem
    too_long = [r for r in rejected if r["reason"] == "too_long"]
    assert len(too_long) == 4 and all(r["completion"] is None for r in too_long)
    stats = json.loads((out / "solve_stats.json").read_text())
    assert stats["counts"]["too_long"] == 4


def test_a_null_reply_is_a_failed_call_not_a_wrong_answer(tmp_path, servers):
    data, out = tmp_path / "problems.jsonl", tmp_path / "solve"
    write_jsonl(data, (p.to_dict() for p in generate_problems(3, 0)))
    null = servers(lambda prompt, body: Reply([None] * int(body.get("n") or 1), 1, 0))
    assert main(solve_flags(data, out, null.base_url)) == EXIT_INCOMPLETE
    assert records(out / "sft.jsonl") == [] and records(out / "sft_rejected.jsonl") == []  # no verdict
    assert json.loads((out / "solve_stats.json").read_text())["retry_pending"] == 3
    assert main(solve_flags(data, out, servers(symbolic_responder()).base_url)) == 0  # the retry
    assert len(records(out / "sft.jsonl")) == 3
