"""The symbolic backend as problem generator, evolver, judge and solver, through the text protocol."""

from __future__ import annotations

from collections import Counter

import pytest

from wizardmath.backends import SamplingParams, get_backend
from wizardmath.data import format_prompt
from wizardmath.evol import world as W
from wizardmath.evol.operations import load_operations, render_equal
from wizardmath.evol.symbolic import FAILURES, SymbolicBackend, generate_problems, gold_solution, sample_texts

OPS = load_operations()
SAMPLE = SamplingParams(temperature=0.7, n=1)


def test_generate_problems_exact_distinct_deterministic():
    problems = generate_problems(200, seed=1, min_ops=1, max_ops=3)
    assert len({p.id for p in problems}) == len({p.problem for p in problems}) == 200
    assert problems == generate_problems(200, seed=1, min_ops=1, max_ops=3)
    for p in problems:
        wp = W.parse(p.problem)
        assert 1 <= len(wp.steps) <= 3
        assert p.answer == str(W.gold_steps(wp)[1])
        assert p.solution.endswith(f"The answer is: {p.answer}")
        assert p.meta["difficulty"] == len(wp.steps) and p.meta["well_posed"] and p.meta["consistent"]


def test_held_out_set_is_disjoint_when_excluding_seed_texts():
    seeds = generate_problems(300, seed=0)
    test = generate_problems(300, seed=1, exclude={p.problem for p in seeds})
    assert not {p.problem for p in seeds} & {p.problem for p in test}
    assert not {p.id for p in seeds} & {p.id for p in test}


def test_gold_solution_from_text_or_record():
    p = generate_problems(1, seed=5)[0]
    assert gold_solution(p) == gold_solution(p.problem) == (p.solution, p.answer)
    assert gold_solution("What is 2 + 2?") is None


def test_sample_texts_covers_the_vocabulary():
    text = " ".join(sample_texts(400, seed=0))
    for word in ["stamps", "times", "bags", "groups", "dollars", "Step 1:", "The answer is:"]:
        assert word in text


def test_registered_as_symbolic_backend():
    backend = get_backend("symbolic", seed=3, error_rate=0.2)
    assert isinstance(backend, SymbolicBackend) and (backend.seed, backend.error_rate) == (3, 0.2)
    with pytest.raises(ValueError, match="failure_rate"):
        SymbolicBackend(failure_rate=2.0)


@pytest.mark.parametrize(
    "operation, change",
    [
        ("add_constraints", 1),
        ("increase_reasoning", 2),
        ("deepen", 1),
        ("concretise", 1),
        ("complicate_input", 0),
    ],
)
def test_upward_operations_add_difficulty(operation, change):
    backend = SymbolicBackend(failure_rate=0.0)
    parents = generate_problems(30, seed=2, min_ops=1, max_ops=2)
    gens = backend.generate([OPS[operation].render(p.problem) for p in parents], SAMPLE)
    for parent, (gen,) in zip(parents, gens, strict=True):
        child, old = W.parse(gen.text), W.parse(parent.problem)
        assert child is not None and gen.meta["failure"] is None
        assert child.difficulty == old.difficulty + change or child.difficulty == W.DEFAULT_WORLD.max_steps
        if operation == "complicate_input":
            assert len(child.distractors) == len(old.distractors) + 1
            assert W.gold_steps(child)[1] == W.gold_steps(old)[1]  # the distractor changes nothing


def test_downward_operations_make_easier_problems():
    backend = SymbolicBackend(failure_rate=0.0)
    parents = generate_problems(30, seed=2, min_ops=2, max_ops=3)
    for operation in ("revise_easier", "new_easier"):
        gens = backend.generate([OPS[operation].render(p.problem) for p in parents], SAMPLE)
        for parent, (gen,) in zip(parents, gens, strict=True):
            assert W.parse(gen.text).difficulty < W.parse(parent.problem).difficulty


def test_in_breadth_uses_rare_items():
    backend = SymbolicBackend(failure_rate=0.0)
    parent = generate_problems(1, seed=2)[0]
    gens = backend.generate([OPS["in_breadth"].render(parent.problem)], SamplingParams(temperature=0.7, n=8))
    assert all(W.parse(g.text).item in {pl for _, pl in W.RARE_ITEMS} for g in gens[0])


def test_failure_modes_are_produced_at_the_configured_rate():
    backend = SymbolicBackend(failure_rate=0.5, seed=1)
    parents = generate_problems(100, seed=4, min_ops=2, max_ops=3)
    gens = backend.generate(
        [OPS["add_constraints"].render(p.problem) for p in parents], SamplingParams(temperature=0.7, n=4)
    )
    failures = Counter(g.meta.get("failure") for outs in gens for g in outs)
    assert set(failures) == {None, *FAILURES}
    assert 0.4 < 1 - failures[None] / 400 < 0.6
    for outs in gens:
        for g in outs:
            if g.meta["failure"] == "ill_posed":
                assert not g.meta["well_posed"]
            if g.meta["failure"] == "contradictory":
                assert g.meta["well_posed"] and not g.meta["consistent"]


def test_samples_are_seeded_per_prompt_not_per_batch():
    backend = SymbolicBackend(seed=0)
    parents = generate_problems(10, seed=4)
    prompts = [OPS["deepen"].render(p.problem) for p in parents]
    sampling = SamplingParams(temperature=0.7, n=3, seed=1)
    together = [[g.text for g in outs] for outs in backend.generate(prompts, sampling)]
    alone = [[g.text for g in backend.generate([p], sampling)[0]] for p in reversed(prompts)][::-1]
    assert together == alone


def test_equal_judge():
    backend = SymbolicBackend()
    wp = W.parse(generate_problems(1, seed=9)[0].problem)
    reworded = W.WordProblem(
        **{**wp.__dict__, "steps": [W.Step(s.op, s.k, s.m, s.other, 1 - s.variant) for s in wp.steps]}
    )
    harder = W.WordProblem(**{**wp.__dict__, "steps": [*wp.steps, W.Step("add", 1)]})
    replies = backend.generate(
        [render_equal(OPS, W.render(wp), W.render(x)) for x in (wp, reworded, harder)], SAMPLE
    )
    assert [r[0].text for r in replies] == ["Equal", "Equal", "Not Equal"]


def test_solver_gold_slips_and_refusals():
    problem = generate_problems(1, seed=11, min_ops=3, max_ops=3)[0]
    exact = SymbolicBackend(error_rate=0.0).generate(
        [format_prompt(problem.problem)], SamplingParams(temperature=0.7, n=4)
    )
    assert [g.text for g in exact[0]] == [problem.solution] * 4
    sloppy = SymbolicBackend(error_rate=0.5).generate(
        [format_prompt(problem.problem)], SamplingParams(temperature=0.7, n=40)
    )
    wrong = [g for g in sloppy[0] if g.meta["slip"]]
    assert 10 < len(wrong) < 30
    assert all(
        g.meta["answer"] != problem.answer for g in wrong
    )  # one slip, carried through, changes the answer
    chat = SymbolicBackend().generate(
        [[{"role": "user", "content": format_prompt(problem.problem, "raw")}]], SAMPLE
    )
    assert chat[0][0].text == problem.solution
    assert "cannot" in SymbolicBackend().generate(["What is 2 + 2?"], SAMPLE)[0][0].text


def test_solver_on_ill_posed_and_contradictory_problems_does_not_agree():
    from wizardmath.evol.eliminator import agreement

    ill = W.render(W.WordProblem("Tom", "He", "apples", None, [W.Step("add", 3), W.Step("mul", 2)]))
    bad = W.render(W.WordProblem("Tom", "He", "apples", 4, [W.Step("sub", 9, other="Ann")]))
    for text in (ill, bad):
        outs = SymbolicBackend().generate([format_prompt(text)], SamplingParams(temperature=0.7, n=4))[0]
        assert agreement([g.text for g in outs]).share < 0.75
