"""IRM data (groups, symbolic and LLM judges, pairs), training, the score API and the score command."""

from __future__ import annotations

import json

import pytest

from reward_models.irm_data import (
    build_pairs,
    group_candidates,
    load_candidates,
    pairs_from,
    parse_ranking,
    read_pairs,
    symbolic_rank,
)
from wizardmath.backends import FakeBackend
from wizardmath.jsonl import DataError


def test_groups_hold_the_parent_and_its_accepted_and_rejected_candidates(evolve_dir):
    candidates = load_candidates(evolve_dir)
    groups = group_candidates(candidates)
    assert len(groups) == 24
    members = groups["s/0"]
    assert [m["id"] for m in members] == ["s/0", "s/0/up", "s/0/ill", "s/0/no"]
    assert [m["accepted"] for m in members] == [True, True, False, False]
    assert len(group_candidates(candidates, include_parent=False)["s/0"]) == 3


def test_symbolic_rank_orders_harder_over_easier_over_ill_posed_over_refusals(evolve_dir):
    members = group_candidates(load_candidates(evolve_dir))["s/0"]
    seed, up, ill, refusal = symbolic_rank(members)
    assert up > seed > ill > refusal


def test_symbolic_facts_fall_back_to_parsing_the_text():
    from wizardmath.evol.symbolic import generate_problems

    easy, hard = (
        generate_problems(1, seed=3, min_ops=1, max_ops=1)[0],
        generate_problems(1, seed=4, min_ops=3, max_ops=3)[0],
    )
    group = [
        {"id": "a", "problem": easy.problem},
        {"id": "b", "problem": hard.problem},
        {"id": "c", "problem": "What is love?"},
    ]
    assert symbolic_rank(group) == [1.0, 3.0, None]  # unreadable text: no pairs for it


def test_pairs_are_every_ordered_pair_with_different_ranks(evolve_dir):
    pairs = build_pairs(group_candidates(load_candidates(evolve_dir)), max_pairs_per_group=None)
    assert len(pairs) == 24 * 6  # 4 candidates with 4 distinct ranks: all 6 pairs
    first = [p for p in pairs if p["group"] == "s/0"]
    assert {"chosen", "rejected", "group", "id"} <= set(first[0])
    assert all(p["chosen"] != "Sorry, I can't help with that." for p in pairs)
    assert len(build_pairs(group_candidates(load_candidates(evolve_dir)), max_pairs_per_group=2)) == 48


def test_ties_give_no_pair():
    same = {"meta": {"well_posed": True, "consistent": True, "difficulty": 2}}
    groups = {"g": [{"id": "a", "problem": "A", **same}, {"id": "b", "problem": "B", **same}]}
    assert build_pairs(groups) == []


@pytest.mark.parametrize(
    "reply, size, expected",
    [
        ("Ranking: 2 > 1 > 3", 3, [1, 0, 2]),
        ("After weighing them... **Ranking:** 3>2>1", 3, [2, 1, 0]),
        ("1 > 2", 2, [0, 1]),
        ("Ranking: 2 > 1", 3, None),  # incomplete
        ("Ranking: 1 > 1 > 2", 3, None),  # repeated
        ("They are all fine.", 2, None),
    ],
)
def test_parse_ranking(reply, size, expected):
    assert parse_ranking(reply, size) == expected


def test_llm_judge_through_a_backend():
    backend = FakeBackend(lambda prompt, i: "Ranking: 2 > 1")
    groups = {"g": [{"id": "a", "problem": "Easy one."}, {"id": "b", "problem": "Hard one."}]}
    pairs = build_pairs(groups, judge="llm", backend=backend)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("Hard one.", "Easy one.")]
    assert "1. Easy one.\n2. Hard one." in backend.calls[0]
    with pytest.raises(ValueError, match="valid: symbolic, llm"):
        build_pairs(groups, judge="oracle")


def test_read_pairs_checks_fields(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"chosen": "a", "rejected": "b"})
        + "\n"
        + json.dumps({"chosen": "a", "rejected": ""})
        + "\n"
    )
    with pytest.raises(DataError, match="pairs.jsonl:2: field 'rejected'"):
        read_pairs(path)
    path.write_text(json.dumps({"prompt": "Q: ", "chosen": "a", "rejected": "b", "group": "g1"}) + "\n")
    assert read_pairs(path) == [{"chosen": "Q: a", "rejected": "Q: b", "group": "g1"}]
    assert pairs_from(str(path))[1] is False


@pytest.mark.slow
def test_trained_irm_scores_and_orders_pairs(trained_irm):
    from reward_models import InstructionRewardModel

    summary = json.loads((trained_irm / "irm_summary.json").read_text())
    assert summary["global_step"] == 6 and summary["train_pairs"] > 0
    assert (trained_irm / "irm_pairs.jsonl").is_file()
    irm = InstructionRewardModel.from_pretrained(str(trained_irm), device="cpu")
    texts = [
        "Tom has 4 apples. He buys 2 more apples. How many apples does Tom have now?",
        "Sorry, I can't help with that.",
    ]
    one = irm.score(texts, batch_size=1)
    both = irm.score(texts, batch_size=2)
    assert one == pytest.approx(both, abs=1e-4)  # padding does not change a score
    assert one[0] != pytest.approx(one[1], abs=1e-6)  # a score per text, not one value for all


@pytest.mark.slow
def test_score_command_for_both_kinds(trained_irm, trained_prm, tmp_path, capsys):
    from reward_models import InstructionRewardModel, ProcessRewardModel
    from wizardmath.cli import main

    problem = "Tom has 4 apples. How many apples does Tom have now?"
    assert main(["score", "--model", str(trained_irm), "--problem", problem]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["irm_score"] == pytest.approx(
        InstructionRewardModel.from_pretrained(str(trained_irm), device="cpu").score([problem])[0], abs=1e-5
    )
    rows = tmp_path / "solutions.jsonl"
    rows.write_text(
        json.dumps(
            {"id": "a", "problem": "Tom has 4 apples.", "solution": " Step 1: 4 + 1 = 5.\nThe answer is: 5"}
        )
        + "\n"
    )
    out = tmp_path / "scored.jsonl"
    assert (
        main(
            [
                "score",
                "--model",
                str(trained_prm),
                "--data-path",
                str(rows),
                "--output",
                str(out),
                "--aggregate",
                "last",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "score",
                "--model",
                str(trained_prm),
                "--data-path",
                str(rows),
                "--output",
                str(out),
                "--aggregate",
                "last",
            ]
        )
        == 0
    )  # resumes: no duplicate
    assert (
        main(["score", "--model", str(trained_prm), "--data-path", str(rows), "--output", str(out)]) == 1
    )  # other aggregate: refused
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    solution = " Step 1: 4 + 1 = 5.\nThe answer is: 5"
    expected = ProcessRewardModel.from_pretrained(str(trained_prm), device="cpu").score_solution(
        "Tom has 4 apples.", solution, "last"
    )
    assert len(scored) == 1 and len(scored[0]["prm_steps"]) == 1
    assert scored[0]["prm_score"] == pytest.approx(expected, abs=1e-5) == scored[0]["prm_steps"][-1]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "b", "problem": "x"}) + "\n")
    assert main(["score", "--model", str(trained_prm), "--data-path", str(bad)]) == 1
    assert "bad.jsonl:1: field 'solution'" in capsys.readouterr().err


def test_an_evolution_that_accepted_nothing_is_refused_before_any_model_loads(tmp_path):
    from reward_models.irm import IRMConfig, train_irm

    evol = tmp_path / "evol"
    evol.mkdir()
    seeds = [
        {"id": f"s{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1), "round": 0} for i in range(3)
    ]
    (evol / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in seeds))
    rejected = [
        {"id": f"s{i}/r1", "parent_id": f"s{i}", "round": 1, "problem": "x", "reason": "unsolvable"}
        for i in range(3)
    ]
    (evol / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejected))
    config = IRMConfig(
        model=str(tmp_path / "no-such-model"),
        data_path=str(evol),
        output_dir=str(tmp_path / "irm"),
        report_to="none",
    )
    with pytest.raises(ValueError, match="evolution accepted no problem") as info:
        train_irm(config)
    assert "reward_funcs [prm, verifier]" in str(info.value) and "--judge llm" in str(info.value)


def test_eliminator_judge_ranks_by_the_evolutions_own_verdicts():
    from reward_models.irm_data import build_pairs

    group = [
        {"id": "s", "problem": "seed", "accepted": True},
        {"id": "a", "problem": "accepted", "accepted": True},
        {"id": "r", "problem": "rejected", "accepted": False, "reason": "unsolvable"},
        {"id": "t", "problem": "leak", "accepted": False, "reason": "template_leak"},
    ]
    pairs = build_pairs({"s": group}, judge="eliminator", max_pairs_per_group=None)
    got = sorted((p["chosen"], p["rejected"]) for p in pairs)
    assert got == sorted(
        [
            ("seed", "rejected"),
            ("seed", "leak"),
            ("accepted", "rejected"),
            ("accepted", "leak"),
            ("rejected", "leak"),
        ]
    )  # no pair between the seed and its accepted evolution: the eliminator does not order them
