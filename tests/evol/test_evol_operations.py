"""Operations as data: prompt files, round specs, tolerant output cleaning, the equal judge."""

from __future__ import annotations

import pytest

from wizardmath.evol.operations import (
    clean_output,
    evolution_ops,
    extract_equal,
    load_operations,
    parse_equal,
    parse_round,
    render_equal,
)

UP = {"add_constraints", "concretise", "increase_reasoning", "deepen", "complicate_input"}
DOWN = {"revise_easier", "new_easier"}


def test_builtin_operations_cover_the_paper():
    ops = load_operations()
    assert {n for n, o in ops.items() if o.direction == "up"} == UP
    assert {n for n, o in ops.items() if o.direction == "down"} == DOWN
    assert {n for n, o in ops.items() if o.direction == "breadth"} == {"in_breadth"}
    assert ops["equal"].direction == "judge" and "equal" not in evolution_ops(ops)


def test_render_uses_replace_so_latex_braces_survive():
    op = load_operations()["deepen"]
    problem = r"Find $\frac{1}{2} + x$ where {x} = 3."
    prompt = op.render(problem)
    assert problem in prompt and op.extract(prompt) == problem
    assert load_operations()["add_constraints"].extract(prompt) is None


def test_prompt_dir_overrides_and_adds(tmp_path):
    (tmp_path / "deepen.txt").write_text("direction: up\ndescription: mine\n---\nHarder please: {problem}\n")
    (tmp_path / "translate.txt").write_text("direction: breadth\n---\nSame in another setting: {problem}\n")
    ops = load_operations(str(tmp_path))
    assert ops["deepen"].render("1+1") == "Harder please: 1+1\n"
    assert parse_round("breadth", ops) == [("in_breadth", 1.0), ("translate", 1.0)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("no header here {problem}", "header"),
        ("direction: sideways\n---\n{problem}", "direction"),
        ("direction: up\n---\nno placeholder", "{problem}"),
        ("direction: judge\n---\n{first} only", "{second}"),
    ],
)
def test_bad_prompt_files_are_named(tmp_path, text, message):
    (tmp_path / "broken.txt").write_text(text)
    with pytest.raises(ValueError, match="broken.txt") as err:
        load_operations(str(tmp_path))
    assert message in str(err.value)


def test_parse_round():
    ops = load_operations()
    assert {n for n, _ in parse_round("up", ops)} == UP
    assert {n for n, _ in parse_round("down", ops)} == DOWN
    assert len(parse_round("all", ops)) == len(UP | DOWN) + 1
    assert parse_round("deepen:2, new_easier", ops) == [("deepen", 2.0), ("new_easier", 1.0)]
    with pytest.raises(ValueError, match="valid: up, down"):
        parse_round("deepn", ops)
    with pytest.raises(ValueError, match="number"):
        parse_round("deepen:x", ops)
    with pytest.raises(ValueError, match="positive"):
        parse_round("deepen:0", ops)


@pytest.mark.parametrize(
    "reply, cleaned",
    [
        # models often echo the header the prompt ended with
        ("#Rewritten Prompt#:\nTom has 5 apples.", "Tom has 5 apples."),
        ("**Rewritten Prompt:** Tom has 5 apples.", "Tom has 5 apples."),
        ("Rewritten problem: Tom has 5 apples.", "Tom has 5 apples."),
        ('"Tom has 5 apples."', "Tom has 5 apples."),
        ("  Tom has 5 apples.  ", "Tom has 5 apples."),
        # a header in the middle is not forgiven: the eliminator sees it as a leak
        ("Tom has 5 apples. #Rewritten Prompt#: more", "Tom has 5 apples. #Rewritten Prompt#: more"),
    ],
)
def test_clean_output(reply, cleaned):
    assert clean_output(reply) == cleaned


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("Equal", True),
        ("Equal.", True),
        ("**Equal**", True),
        ("equal", True),
        ("Not Equal", False),
        ("Not equal.", False),
        ("not the same", False),
        ("I think so", None),
        ("", None),
    ],
)
def test_parse_equal(reply, verdict):
    assert parse_equal(reply) is verdict


def test_equal_prompt_round_trip():
    ops = load_operations()
    prompt = render_equal(ops, "A {x}?", "B\nwith two lines")
    assert extract_equal(ops, prompt) == ("A {x}?", "B\nwith two lines")
    assert extract_equal(ops, "something else") is None
