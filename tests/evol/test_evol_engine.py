"""The evolution engine end to end: schedule, lineage, eliminator reasons, exact answers, resume."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from wizardmath.backends import BACKENDS, AsyncBackend, Backend, Generation
from wizardmath.evol import EvolveConfig, evolve
from wizardmath.evol import world as W
from wizardmath.evol.eliminator import REASONS
from wizardmath.evol.operations import load_operations, parse_round
from wizardmath.evol.symbolic import SymbolicBackend
from wizardmath.jsonl import read_jsonl

REPO = Path(__file__).resolve().parents[2]
OPS = load_operations()


def records(out: Path) -> tuple[list[dict], list[dict]]:
    return read_jsonl(out / "problems.jsonl"), read_jsonl(out / "rejected.jsonl")


def test_lineage_schedule_reasons_and_exact_answers(small_run):
    out, stats = small_run
    config = EvolveConfig(num_seeds=24)  # the schedule of configs/tiny/evolve.yaml is the default one
    kept, rejected = records(out)
    by_id = {r["id"]: r for r in kept}
    assert len(by_id) == len(kept) and not {r["id"] for r in rejected} & set(by_id)  # no duplicates
    assert sum(r["round"] == 0 for r in kept) == 24
    for record in kept + rejected:
        if record["round"] == 0:
            assert record["operation"] == "seed"
            continue
        number = record["round"]
        parent = by_id[record["parent_id"]]  # every parent resolves to an accepted record
        wanted = 0 if config.round_parents[number - 1] == "seeds" else number - 1
        assert parent["round"] == wanted
        assert record["operation"] in {name for name, _ in parse_round(config.rounds[number - 1], OPS)}
        assert record["id"].startswith(f"{record['parent_id']}/r{number}-{record['operation']}-")
        assert record["backend"] == "symbolic"
    for record in rejected:
        assert record["reason"] in REASONS and record["detail"]
    for record in kept:  # symbolic answers are exact: recomputed from the text alone
        wp = W.parse(record["problem"])
        assert record["answer"] == str(W.gold_steps(wp)[1]), record
    # fanout: each parent got exactly fanout[r] candidates in round r
    per_parent = Counter((r["parent_id"], r["round"]) for r in kept + rejected if r["round"])
    for (_, number), count in per_parent.items():
        assert count == config.fanout[number - 1]
    assert stats["accepted"] == len(kept) and stats["rejected"] == len(rejected)


def test_every_failure_mode_is_caught(small_run):
    out, _ = small_run
    kept, rejected = records(out)
    assert not [r for r in kept if r.get("meta", {}).get("failure")]  # no deliberate failure slipped through
    caught = Counter(r["meta"]["failure"] for r in rejected if r.get("meta", {}).get("failure"))
    assert set(caught) == {"ill_posed", "contradictory", "template_leak", "refusal", "no_gain"}
    reasons = {r["meta"]["failure"]: r["reason"] for r in rejected if r.get("meta", {}).get("failure")}
    assert reasons["template_leak"] == "template_leak" and reasons["refusal"] == "refusal"
    assert {r["reason"] for r in rejected if r.get("meta", {}).get("failure") == "ill_posed"} <= {
        "unsolvable",
        "near_duplicate",
    }
    judged = [r for r in rejected if r["reason"] == "no_information_gain" and "judge" in r["detail"]]
    assert judged, "the reworded no-gain rewrites must be caught by the equal judge"


def test_stats(small_run):
    out, stats = small_run
    assert json.loads((out / "stats.json").read_text()) == stats
    assert set(stats["rounds"]) == {"0", "1", "2", "3", "4", "5"}
    assert set(stats["rounds"]["1"]) <= {"revise_easier", "new_easier"}
    assert set(stats["rounds"]["3"]) <= {
        "add_constraints",
        "concretise",
        "increase_reasoning",
        "deepen",
        "complicate_input",
    }
    cell = stats["rounds"]["3"]["deepen"]
    assert cell["yield"] == round(cell["accepted"] / (cell["accepted"] + cell["rejected"]), 3)
    assert stats["tokens"]["evolve"]["prompt_tokens"] > 0 and stats["tokens"]["solve"]["requests"] > 0
    assert stats["wall_seconds"] > 0


def test_rerun_is_a_no_op(small_run, make_config, tmp_path):
    out, _ = small_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("problems.jsonl", "rejected.jsonl"):
        (copy / name).write_bytes((out / name).read_bytes())
    evolve(make_config(copy))
    assert (copy / "problems.jsonl").read_bytes() == (out / "problems.jsonl").read_bytes()
    assert (copy / "rejected.jsonl").read_bytes() == (out / "rejected.jsonl").read_bytes()


def test_torn_last_line_is_cut_and_redone(small_run, make_config, tmp_path):
    out, _ = small_run
    lines = (out / "problems.jsonl").read_text().splitlines(keepends=True)
    copy = tmp_path / "torn"
    copy.mkdir()
    (copy / "problems.jsonl").write_text("".join(lines[:100]) + lines[100][:20])  # killed inside a write
    evolve(make_config(copy))
    assert sorted(read_jsonl(copy / "problems.jsonl"), key=lambda r: r["id"]) == sorted(
        read_jsonl(out / "problems.jsonl"), key=lambda r: r["id"]
    )


def _line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigkill_and_restart_gives_the_same_ids(make_config, tmp_path):
    flags = [
        "--config",
        str(REPO / "configs/tiny/evolve.yaml"),
        "--num_seeds",
        "60",
        "--chunk_size",
        "16",
        "--decontaminate",
        "false",
        "--progress",
        "false",
    ]
    reference = tmp_path / "reference"
    evolve(make_config(reference, num_seeds=60, chunk_size=16))
    total = _line_count(reference / "problems.jsonl") + _line_count(reference / "rejected.jsonl")

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "wizardmath", "evolve", *flags, "--output", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for fraction in (0.25, 0.6):  # kill twice, at different depths, then let it finish
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            done = _line_count(out / "problems.jsonl") + _line_count(out / "rejected.jsonl")
            if done >= fraction * total:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait()
    assert kills == 2, "the run finished before it could be killed; make it longer"
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0

    for name in ("problems.jsonl", "rejected.jsonl"):
        ids = [r["id"] for r in read_jsonl(out / name)]
        want = [r["id"] for r in read_jsonl(reference / name)]
        assert len(ids) == len(set(ids)), f"duplicates in {name}"
        assert set(ids) == set(want), name
    texts = {r["id"]: r["problem"] for r in read_jsonl(out / "problems.jsonl")}
    assert texts == {r["id"]: r["problem"] for r in read_jsonl(reference / "problems.jsonl")}


# ----------------------------------------------------------------------------- other backends


class Scripted(Backend):
    """An LLM-like backend with scripted habits, to drive the generic (non-symbolic) paths."""

    name = "scripted"

    def __init__(self, **_):
        self.symbolic = SymbolicBackend(failure_rate=0.0)

    def generate(self, prompts, sampling):
        out = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            if text.startswith(OPS["equal"].template[:40]):
                out.append(
                    [Generation("Equal" if "Zoe has" in text.split("Second Problem:")[1] else "Not Equal")]
                )
                continue
            parent = next(
                (op.extract(text) for op in OPS.values() if op.direction != "judge" and op.extract(text)),
                None,
            )
            if parent is None:  # a solve prompt: the symbolic solver, but an API error on Ann's problems
                gens = self.symbolic.generate([text], sampling)[0]
                if "Ann has" in text:
                    gens = [Generation("", error="HTTP 500 after 6 retries")] * sampling.n
                out.append(gens)
                continue
            out.append(
                [
                    Generation(self.symbolic.respond(text, __import__("random").Random(i))[0])
                    for i in range(sampling.n)
                ]
            )
        return out


def test_generic_backend_path_with_judge_and_errors(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, "scripted", f"{__name__}:Scripted")
    seeds = tmp_path / "seeds.jsonl"
    lines = [
        {
            "id": "a",
            "problem": "Tom has 5 apples. He buys 3 more apples. How many apples does Tom have now?",
            "answer": "8",
        },
        {
            "id": "b",
            "problem": "Zoe has 4 pens. She buys 2 more pens. How many pens does Zoe have now?",
            "answer": "6",
        },
        {
            "id": "c",
            "problem": "Ann has 9 eggs. She buys 1 more eggs. How many eggs does Ann have now?",
            "answer": "10",
        },
    ]
    seeds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out"
    stats = evolve(
        EvolveConfig(
            backend="scripted",
            dataset=["jsonl"],
            data_path=[str(seeds)],
            output=str(out),
            rounds=["add_constraints"],
            round_parents=["seeds"],
            fanout=[2],
            decontaminate=[],
            progress=False,
        )
    )
    kept, rejected = records(out)
    reasons = {r["parent_id"]: r["reason"] for r in rejected}
    assert reasons == {
        "b": "no_information_gain"
    }  # judge said Equal; the solver's errors are no verdict on c
    assert [r["parent_id"] for r in kept if r["round"] == 1] == ["a", "a"]
    assert stats["tokens"]["judge"]["requests"] == 6 and stats["tokens"]["solve"]["errors"] == 8
    assert stats["retry_pending"] == 2 and stats["retry_by_role"] == {
        "solver": 2
    }  # c's two, redone by a re-run


class ShuffledSymbolic(AsyncBackend):
    """The symbolic backend behind an async interface whose answers arrive in a seeded random order."""

    name = "symbolic"
    shuffle = 0  # set per test: which completion order
    started: list[str] = []  # prompts in the order they were sent (all instances)
    finished: list[str] = []  # ... and in the order their answers arrived

    def __init__(self, **kwargs):
        super().__init__(concurrency=8)
        self.inner = SymbolicBackend(**kwargs)

    async def agenerate_one(self, prompt, sampling):
        key = f"{prompt}|{sampling.n}|{len(ShuffledSymbolic.started)}"
        ShuffledSymbolic.started.append(key)
        await asyncio.sleep(0.004 * random.Random(f"{self.shuffle}|{key}").random())
        ShuffledSymbolic.finished.append(key)
        return self.inner.generate([prompt], sampling)[0]


@pytest.mark.parametrize("shuffle", [1, 2])
def test_async_backend_writes_what_the_sync_one_writes_whatever_the_completion_order(
    shuffle, monkeypatch, make_config, small_run, tmp_path
):
    """Answers arrive shuffled, yet the kept set, its order, every rejection and every count match the
    sync run byte for byte: candidates are written (and enter the near-duplicate index) in plan order."""
    monkeypatch.setitem(BACKENDS, "symbolic", f"{__name__}:ShuffledSymbolic")
    monkeypatch.setattr(ShuffledSymbolic, "shuffle", shuffle)
    monkeypatch.setattr(ShuffledSymbolic, "started", [])
    monkeypatch.setattr(ShuffledSymbolic, "finished", [])
    out = tmp_path / "async"
    stats = evolve(make_config(out))
    assert sorted(ShuffledSymbolic.finished) == sorted(ShuffledSymbolic.started)
    assert ShuffledSymbolic.finished != ShuffledSymbolic.started, "answers must really arrive out of order"
    ref, ref_stats = small_run
    assert any(r["reason"] == "near_duplicate" for r in read_jsonl(ref / "rejected.jsonl")), (
        "dedup must be exercised"
    )
    for name in ("problems.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    assert stats["tokens"] == ref_stats["tokens"] and stats["rounds"] == ref_stats["rounds"]


@pytest.mark.slow
def test_evolve_over_real_http(tmp_path):
    """The OpenAI-compatible path: a loopback server whose model is the symbolic world."""
    import random

    from wizardmath.backends import prompt_text
    from wizardmath.backends.testing import serve

    world = SymbolicBackend(seed=0)

    def responder(prompt, body):
        text = prompt_text(prompt)
        return [world.respond(text, random.Random(f"{text}|{i}"))[0] for i in range(int(body.get("n") or 1))]

    with serve(responder) as server:
        out = tmp_path / "http"
        stats = evolve(
            EvolveConfig(
                backend="openai",
                model="test-model",
                base_url=server.base_url,
                output=str(out),
                num_seeds=6,
                rounds=["down", "up"],
                round_parents=["seeds", "previous"],
                fanout=[3, 1],
                decontaminate=[],
                progress=False,
                backend_args=["concurrency=8"],
            )
        )
        requests = server.counts["requests"]
    kept, rejected = records(out)
    assert len(kept) + len(rejected) == 6 + 18 + sum(r["round"] == 1 for r in kept)
    assert all(r["backend"] == "openai:test-model" for r in kept if r["round"])
    for record in kept:
        assert record["answer"] == str(W.gold_steps(W.parse(record["problem"]))[1])
    # one backend object plays every role: its own count of requests is the server's, none retried
    assert (
        stats["backend_stats"]["evolver"]["requests"]
        == requests
        == stats["backend_stats"]["evolver"]["responses"]
    )
