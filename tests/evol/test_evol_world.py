"""The symbolic world's structures: render/parse round trips, exact answers, feasibility."""

from __future__ import annotations

import random

import pytest

from wizardmath.evol import world as W
from wizardmath.evol.symbolic import evolve_structure

OPERATIONS = [
    "add_constraints",
    "increase_reasoning",
    "deepen",
    "concretise",
    "complicate_input",
    "revise_easier",
    "new_easier",
    "in_breadth",
]


def test_render_parse_round_trip_over_random_problems_and_evolutions():
    rng = random.Random(7)
    for _ in range(300):
        wp = W.random_problem(rng, W.DEFAULT_WORLD, rng.randint(1, 5), items=W.ALL_ITEMS)
        if rng.random() < 0.5:
            W.add_distractor(wp, rng, W.DEFAULT_WORLD)
        for op in OPERATIONS:
            new = evolve_structure(wp, op, rng)
            text = W.render(new)
            assert W.parse(text) == new, text
            assert W.feasible(new, W.DEFAULT_WORLD), text


def test_gold_steps_hand_computed():
    wp = W.WordProblem(
        "Tom",
        "He",
        "apples",
        5,
        [
            W.Step("add", 3),
            W.Step("sub", 2, other="Ann"),
            W.Step("mul", 3),
            W.Step("packs", 2, 4),
            W.Step("div", 2),
        ],
        price=2,
    )
    text = W.render(wp)
    assert text == (
        "Tom has 5 apples. He buys 3 more apples. He gives 2 apples to Ann. "
        "He now has 3 times as many apples. "
        "He buys 2 bags with 4 apples in each bag. "
        "He splits the apples into 2 equal groups and keeps one group. "
        "Each apple costs 2 dollars. How many dollars are Tom's apples worth?"
    )
    lines, answer = W.gold_steps(wp)
    assert [line.split(", so ")[-1] for line in lines] == [
        "5 + 3 = 8.",
        "8 - 2 = 6.",
        "6 * 3 = 18.",
        "2 * 4 = 8, then 18 + 8 = 26.",
        "26 / 2 = 13.",
        "13 * 2 = 26.",
    ]
    assert lines[1] == "He gives 2 apples to Ann, so 8 - 2 = 6."  # the problem's sentence, restated
    assert lines[-1] == "Each apple costs 2 dollars, so 13 * 2 = 26."
    assert answer == 26
    assert W.parse(text) == wp


def test_exact_steps_and_solution_format():
    wp = W.WordProblem("Ann", "She", "pens", 6, [W.Step("add", 2), W.Step("div", 4), W.Step("packs", 3, 2)])
    lines, answer = W.gold_steps(wp)
    assert lines == [
        "She buys 2 more pens, so 6 + 2 = 8.",
        "She splits the pens into 4 equal groups and keeps one group, so 8 / 4 = 2.",
        "She buys 3 bags with 2 pens in each bag, so 3 * 2 = 6, then 2 + 6 = 8.",
    ]
    assert answer == 8
    solution, text_answer = W.solve_text(wp)
    assert solution == (
        " Step 1: She buys 2 more pens, so 6 + 2 = 8.\n"
        "Step 2: She splits the pens into 4 equal groups and keeps one group, so 8 / 4 = 2.\n"
        "Step 3: She buys 3 bags with 2 pens in each bag, so 3 * 2 = 6, then 2 + 6 = 8.\nThe answer is: 8"
    )
    assert text_answer == "8"


@pytest.mark.parametrize(
    "wp, why",
    [
        (W.WordProblem("Tom", "He", "apples", None, [W.Step("add", 3)]), "ill-posed: no start"),
        (W.WordProblem("Tom", "He", "apples", 4, [W.Step("sub", 9, other="Ann")]), "contradictory: negative"),
        (W.WordProblem("Tom", "He", "apples", 7, [W.Step("div", 2)]), "contradictory: inexact split"),
    ],
)
def test_bad_problems_have_no_gold(wp, why):
    assert W.gold_steps(wp) is None, why
    assert W.parse(W.render(wp)) == wp  # still readable, so a solver can see what is wrong


def test_distractor_is_ignored_by_the_solution():
    wp = W.WordProblem("Mia", "She", "eggs", 4, [W.Step("add", 5)], distractors=[(1, "Ben", 9, "coins")])
    assert (
        W.render(wp)
        == "Mia has 4 eggs. Ben has 9 coins. She buys 5 more eggs. How many eggs does Mia have now?"
    )
    assert W.gold_steps(wp)[1] == 9
    assert W.parse(W.render(wp)) == wp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "What is 2 + 2?",
        "Tom has 5 apples. He flies away. How many apples does Tom have now?",
        "Tom has 5 apples. How many dollars are Tom's apples worth?",
    ],
)
def test_parse_rejects_text_from_outside_the_world(text):
    assert W.parse(text) is None


def test_same_maths_ignores_wording_only():
    a = W.WordProblem("Tom", "He", "apples", 5, [W.Step("add", 3, variant=0)])
    b = W.WordProblem("Tom", "He", "apples", 5, [W.Step("add", 3, variant=1)])
    c = W.WordProblem("Tom", "He", "apples", 5, [W.Step("add", 4)])
    assert W.render(a) != W.render(b) and a.same_maths(b)
    assert not a.same_maths(c)


def test_numbers_stay_in_range():
    rng = random.Random(3)
    world = W.DEFAULT_WORLD
    for _ in range(500):
        wp = W.random_problem(rng, world, rng.randint(1, 6))
        assert all(0 <= v <= world.max_value for v in W.values(wp))
        assert world.start_min <= wp.start <= world.start_max
        assert all(1 <= s.k <= world.max_operand for s in wp.steps)
