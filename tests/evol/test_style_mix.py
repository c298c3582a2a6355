"""The teacher's style mix: terse and decomposed solutions, both correct, mixed at a set share."""

from __future__ import annotations

import random

import pytest

from wizardmath.backends import SamplingParams
from wizardmath.data import format_prompt
from wizardmath.evol import world as W
from wizardmath.evol.symbolic import SymbolicBackend, generate_problems
from wizardmath.evol.symbolic_solve import (
    TERSE_HEAD,
    gold_values,
    slipped_values,
    solution_style,
    styled_solution,
)
from wizardmath.verify import check_steps, verify_batch

SAMPLES = SamplingParams(temperature=0.7, n=200)


def test_terse_folds_runs_of_additions_into_one_expression():
    wp = W.WordProblem(
        "Tom",
        "He",
        "coins",
        16,
        [W.Step("add", 4), W.Step("sub", 6, other="Ann"), W.Step("packs", 2, 3), W.Step("mul", 2)],
        price=2,
    )
    text, answer = styled_solution(wp, gold_values(wp), "terse")
    assert text == f" {TERSE_HEAD} 16 + 4 - 6 + 2 * 3 = 20; 20 * 2 = 40; 40 * 2 = 80.\nThe answer is: 80"
    assert answer == "80" and solution_style(text) == "terse"
    assert all(v.verdict != "wrong" for v in check_steps(text)) and check_steps(text)[0].verdict == "correct"
    decomposed, same = styled_solution(wp, gold_values(wp), "decomposed")
    assert (decomposed, same) == W.solve_text(wp) and solution_style(decomposed) == "decomposed"
    with pytest.raises(ValueError, match="unknown solution style"):
        styled_solution(wp, gold_values(wp), "verbose")


def test_terse_slips_give_wrong_answers_the_checker_finds():
    rng, changed, caught = random.Random(0), 0, 0
    for problem in generate_problems(30, seed=4, min_ops=2, max_ops=4):
        wp = W.parse(problem.problem)
        text, answer = styled_solution(wp, slipped_values(wp, rng), "terse")
        if answer == problem.answer:  # a slip before an inexact split can round back to the gold count
            continue
        changed += 1
        assert not verify_batch([(problem.answer, text)], workers=1)[0]
        caught += any(v.verdict == "wrong" for v in check_steps(text))
    assert (
        changed >= 25 and caught >= changed - 1
    )  # the checker reads no negative results (a slip below zero)


def test_share_one_is_the_clean_world_and_a_mix_uses_both_styles_at_its_share():
    problem = generate_problems(1, seed=11, min_ops=3, max_ops=3)[0]
    prompt = [format_prompt(problem.problem)]
    clean = SymbolicBackend(error_rate=0.0).generate(prompt, SamplingParams(temperature=0.7, n=4))[0]
    assert [g.text for g in clean] == [problem.solution] * 4
    mixed = SymbolicBackend(error_rate=0.0, decomposed_share=0.3).generate(prompt, SAMPLES)[0]
    styles = [g.meta["style"] for g in mixed]
    assert 40 <= styles.count("decomposed") <= 80  # 30% of 200, loosely
    for g in mixed:
        assert solution_style(g.text) == g.meta["style"] and g.meta["answer"] == problem.answer
        assert verify_batch([(problem.answer, g.text)], workers=1)[0]
    with pytest.raises(ValueError, match="decomposed_share"):
        SymbolicBackend(decomposed_share=1.5)


def test_lean_terse_keeps_each_decomposed_equation_and_drops_only_the_restated_sentences():
    wp = W.WordProblem(
        "Tom", "He", "coins", 16, [W.Step("add", 4), W.Step("packs", 2, 3), W.Step("div", 2)], price=2
    )
    lean, answer = styled_solution(wp, gold_values(wp), "terse", terse_form="lean")
    assert lean == (
        f" {TERSE_HEAD}\nStep 1: 16 + 4 = 20.\nStep 2: 2 * 3 = 6, then 20 + 6 = 26.\nStep 3: 26 / 2 = 13.\n"
        "Step 4: 13 * 2 = 26.\nThe answer is: 26"
    )
    assert answer == "26" and solution_style(lean) == "terse"
    decomposed, _ = styled_solution(wp, gold_values(wp), "decomposed")
    equations = [line.split(", so ", 1)[1] for line in decomposed.strip().splitlines()[:-1]]
    assert [line.split(": ", 1)[1] for line in lean.strip().splitlines()[1:-1]] == equations
    assert all(v.verdict != "wrong" for v in check_steps(lean))
    with pytest.raises(ValueError, match="unknown terse form"):
        styled_solution(wp, gold_values(wp), "terse", terse_form="short")
    with pytest.raises(ValueError, match="terse_form"):
        SymbolicBackend(terse_form="short")


def test_lean_slips_are_caught_by_the_step_checker():
    rng = random.Random(3)
    wrong = []
    for problem in generate_problems(20, seed=5, min_ops=2, max_ops=4):
        wp = W.parse(problem.problem)
        text, answer = styled_solution(wp, slipped_values(wp, rng), "terse", terse_form="lean")
        if answer != problem.answer:
            wrong.append(any(v.verdict == "wrong" for v in check_steps(text)))
    assert len(wrong) >= 15 and sum(wrong) >= len(wrong) - 1


def test_direct_terse_jumps_to_the_answer_after_the_style_head():
    wp = W.WordProblem("Tom", "He", "coins", 16, [W.Step("add", 4), W.Step("div", 2)], price=None)
    direct, answer = styled_solution(wp, gold_values(wp), "terse", terse_form="direct")
    assert direct == f" {TERSE_HEAD}\nThe answer is: 10" and answer == "10"
    assert solution_style(direct) == "terse"
    backend = SymbolicBackend(decomposed_share=0.0, terse_form="direct", error_rate=0.0)
    assert backend.terse_form == "direct"
