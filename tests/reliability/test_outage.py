"""A backend outage is never a verdict on the data: over real loopback HTTP, failed calls leave their
records unwritten and counted, the command exits 3, and the next run with the server back finishes
the job with nothing lost, nothing doubled and the earlier lines untouched."""

from __future__ import annotations

import json
from pathlib import Path

from fault_helpers import evolve_flags, outcome, records, symbolic_responder

from wizardmath.cli import main
from wizardmath.runstate import EXIT_INCOMPLETE


def reference(tmp_path: Path, servers) -> dict[str, str]:
    server = servers(symbolic_responder())
    assert main(evolve_flags(tmp_path / "reference", server.base_url)) == 0
    server.kill()
    return outcome(tmp_path / "reference")


def test_server_killed_and_restarted_mid_evolve(tmp_path, servers, capsys):
    expected = reference(tmp_path, servers)
    out = tmp_path / "run"
    holder: dict = {}
    first = servers(symbolic_responder(kill_after=8, on_kill=lambda: holder["server"].kill()))
    holder["server"] = first
    assert main(evolve_flags(out, first.base_url)) == EXIT_INCOMPLETE
    assert "run the same command again" in capsys.readouterr().err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["retry_pending"] > 0
    partial = outcome(out)
    assert partial and all(
        expected[rid] == verdict for rid, verdict in partial.items()
    )  # only true verdicts written
    before = {
        name: (out / name).read_bytes()
        for name in ("problems.jsonl", "rejected.jsonl")
        if (out / name).exists()
    }
    requests_before = stats["backend_stats"]["evolver"]["requests"]

    second = servers(symbolic_responder(), port=first.port)  # the same URL, back up
    assert main(evolve_flags(out, second.base_url)) == 0
    assert outcome(out) == expected  # nothing lost, nothing doubled, the same verdicts as a clean run
    for name, data in before.items():
        assert (out / name).read_bytes().startswith(data)  # earlier lines byte-identical
    stats = json.loads((out / "stats.json").read_text())
    assert stats["retry_pending"] == 0
    assert stats["backend_stats"]["evolver"]["requests"] > requests_before  # accumulated, not reset


def test_wrong_url_then_right_url(tmp_path, servers, capsys):
    expected = reference(tmp_path, servers)
    out = tmp_path / "run"
    assert main(evolve_flags(out, "http://127.0.0.1:9/v1")) == EXIT_INCOMPLETE
    assert len(records(out / "problems.jsonl")) == 6  # the seeds only
    assert records(out / "rejected.jsonl") == []  # no candidate rejected for the outage
    assert json.loads((out / "stats.json").read_text())["retry_pending"] == 18
    capsys.readouterr()
    server = servers(symbolic_responder())
    assert main(evolve_flags(out, server.base_url)) == 0  # another base_url is fine: same data and settings
    assert outcome(out) == expected


def test_eval_exits_3_until_every_problem_is_graded(tmp_path, servers):
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": f"What is {i} plus {i}?", "answer": str(2 * i)}) + "\n"
            for i in range(6)
        )
    )
    from wizardmath.backends.testing import serve

    def answer(prompt, body):
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        i = int(text.split("What is ")[1].split(" ")[0])
        return [f"Step 1: {i} + {i} = {2 * i}.\nThe answer is: {2 * i}"]

    flags = [
        "eval",
        "--model",
        "test-model",
        "--dataset",
        "jsonl",
        "--data-path",
        str(data),
        "--output",
        str(tmp_path / "eval"),
        "--max-new-tokens",
        "32",
        "--progress",
        "false",
    ]
    refuse = {"p1", "p4"}

    def faults(key, attempt):  # the server refuses two problems (400, not retried) on this run only
        return "bad_request" if any(f"What is {p[1:]} plus" in key for p in refuse) else None

    with serve(answer, faults=faults) as server:
        assert main([*flags, "--base-url", server.base_url]) == EXIT_INCOMPLETE
    results = tmp_path / "eval" / "problems.jsonl"
    assert sorted(r["id"] for r in records(results)) == ["p0", "p2", "p3", "p5"]
    earlier = results.read_bytes()
    with serve(answer) as server:
        assert main([*flags, "--base-url", server.base_url]) == 0
    assert sorted(r["id"] for r in records(results)) == [f"p{i}" for i in range(6)]
    assert results.read_bytes().startswith(earlier)
    summary = json.loads((tmp_path / "eval" / "problems.summary.json").read_text())
    assert summary["n"] == 6 and summary["missing"] == 0 and summary["accuracy"] == 1.0


def test_label_prm_judge_outage_writes_no_labels(tmp_path):
    from wizardmath.backends.testing import serve

    solutions = tmp_path / "solutions.jsonl"
    solutions.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "problem": f"What is {i} plus 1?",
                    "answer": str(i + 1),
                    "solution": f"Step 1: {i} + 1 = {i + 1}.\nThe answer is: {i + 1}",
                }
            )
            + "\n"
            for i in range(4)
        )
    )
    out = tmp_path / "prm.jsonl"
    flags = [
        "label-prm",
        "--labeler",
        "judge",
        "--solutions_path",
        str(solutions),
        "--output",
        str(out),
        "--judge_model",
        "test-model",
    ]

    def judge(prompt, body):
        return ["Step 1: correct\nStep 2: correct"]

    def faults(key, attempt):  # the judge fails (400, not retried) for two solutions on this run
        return "bad_request" if "What is 1 plus" in key or "What is 3 plus" in key else None

    with serve(judge, faults=faults) as server:
        assert main([*flags, "--judge_base_url", server.base_url]) == EXIT_INCOMPLETE
    assert sorted(r["id"] for r in records(out)) == ["s0", "s2"]  # no all-unknown labels for the outage
    earlier = out.read_bytes()
    with serve(judge) as server:
        assert main([*flags, "--judge_base_url", server.base_url]) == 0
    assert sorted(r["id"] for r in records(out)) == ["s0", "s1", "s2", "s3"]
    assert out.read_bytes().startswith(earlier) and all(r["labels"] == [True] for r in records(out))
    assert (
        json.loads((tmp_path / "prm.jsonl.stats.json").read_text())["records"] == 4
    )  # counts add up over runs


def test_solve_outage_writes_no_verdict(tmp_path, servers):
    from wizardmath.evol.symbolic import generate_problems
    from wizardmath.jsonl import write_jsonl

    data = tmp_path / "problems.jsonl"
    write_jsonl(data, (p.to_dict() for p in generate_problems(5, 0)))
    out = tmp_path / "solve"
    flags = [
        "solve",
        "--backend",
        "openai",
        "--model",
        "test-model",
        "--data-path",
        str(data),
        "--output",
        str(out),
        "--num_samples",
        "2",
        "--progress",
        "false",
        "--backend_args",
        "max_retries=0",
        "timeout=5",
    ]
    assert main([*flags, "--base_url", "http://127.0.0.1:9/v1"]) == EXIT_INCOMPLETE
    assert (
        records(out / "sft.jsonl") == [] and records(out / "sft_rejected.jsonl") == []
    )  # no "no_verified_solution"
    assert json.loads((out / "solve_stats.json").read_text())["retry_pending"] == 5
    server = servers(symbolic_responder())
    assert main([*flags, "--base_url", server.base_url]) == 0
    stats = json.loads((out / "solve_stats.json").read_text())
    assert stats["retry_pending"] == 0 and stats["runs"] == 2 and stats["problems_with_rows"] == 5
    assert sorted(r["problem_id"] for r in records(out / "sft.jsonl")) == sorted(
        p["id"] for p in records(data)
    )
