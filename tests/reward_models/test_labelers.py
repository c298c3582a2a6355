"""Step labellers: rule-based, Monte-Carlo, LLM judge; agreement; the label-prm command and its resume."""

from __future__ import annotations

import json

import pytest

from reward_models.labelers import (
    JudgeLabeler,
    LabelConfig,
    MonteCarloLabeler,
    RuleLabeler,
    Solution,
    StepLabels,
    agreeing_prefix,
    agreement,
    label_prm,
    parse_judge,
    prefix_closed,
    rule_labels,
)
from wizardmath.backends import FakeBackend

PROBLEM = (
    "Tom has 5 apples. He buys 3 more apples. He now has 2 times as many apples. "
    "How many apples does Tom have now?"
)


def solution(sid: str, *steps: str, answer: str = "16") -> Solution:
    return Solution(sid, PROBLEM, answer, list(steps))


RIGHT = solution(
    "right",
    "Step 1: Tom buys 3 more, so 5 + 3 = 8.",
    "Step 2: Tom has 2 times as many, so 8 * 2 = 16.\nThe answer is: 16",
)
SLIP = solution(
    "slip",
    "Step 1: Tom buys 3 more, so 5 + 3 = 9.",
    "Step 2: Tom has 2 times as many, so 9 * 2 = 18.\nThe answer is: 18",
)
LATE = solution(
    "late",
    "Step 1: Tom buys 3 more, so 5 + 3 = 8.",
    "Step 2: Tom has 2 times as many, so 8 * 2 = 17.\nThe answer is: 17",
)
# arithmetic all true, but the wrong number was copied: the error cannot be located
HIDDEN = solution(
    "hidden",
    "Step 1: Tom buys 4 more, so 5 + 4 = 9.",
    "Step 2: Tom has 2 times as many, so 9 * 2 = 18.\nThe answer is: 18",
)


@pytest.mark.parametrize(
    "verdicts, final, expected",
    [
        (["correct", "correct"], True, [True, True]),
        (["wrong", "correct"], False, [False, False]),  # errors propagate: every later step is off the path
        (["correct", "wrong", "unknown"], False, [True, False, False]),
        (["correct", "wrong"], True, [True, False]),  # a lucky final answer does not excuse a wrong step
        (["correct", "unknown"], False, [None, False]),  # wrong answer, error not located: only the last step
        (["unknown"], None, [None]),  # no gold answer and nothing checkable
    ],
)
def test_rule_labels(verdicts, final, expected):
    assert rule_labels(verdicts, final) == expected


def test_rule_labeler_uses_check_steps_and_the_answer():
    labels = [x.labels for x in RuleLabeler().label([RIGHT, SLIP, LATE, HIDDEN])]
    assert labels == [[True, True], [False, False], [True, False], [None, False]]


def test_prefix_closed():
    assert prefix_closed([True, False, True, None]) == [True, False, False, False]
    assert prefix_closed([None, True]) == [None, True]


def continuation(prompt: str, index: int) -> str:
    """A policy that finishes correctly from a correct prefix and carries a wrong value on."""
    if "= 9." in prompt:
        return "Step 2: Tom has 2 times as many, so 9 * 2 = 18.\nThe answer is: 18"
    if "= 17." in prompt:
        return "The answer is: 17"
    if "so 8 * 2 = 16" in prompt:
        return "The answer is: 16"
    return (
        "Step 2: Tom has 2 times as many, so 8 * 2 = 16.\nThe answer is: 16"
        if index % 2 == 0
        else "The answer is: 15"
    )


def test_monte_carlo_soft_and_hard_labels():
    backend = FakeBackend(continuation)
    mc = MonteCarloLabeler(backend, rollouts=4, progress=False)
    right, slip = mc.label([RIGHT, SLIP])
    assert right.soft == [0.5, 1.0] and right.labels == [True, True]  # 2 of 4 rollouts reach 16
    assert slip.soft == [0.0, 0.0] and slip.labels == [False, False]
    # one rollout prompt per step prefix except the last (its answer is already written)
    assert len(backend.calls) == 2 and all(c.endswith(".\n") for c in backend.calls)
    majority = MonteCarloLabeler(
        FakeBackend(continuation), rollouts=4, hard="majority", progress=False
    ).label([RIGHT])[0]
    assert majority.labels == [True, True]
    with pytest.raises(ValueError, match="'any' or 'majority'"):
        MonteCarloLabeler(backend, hard="all")


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("Step 1: correct\nStep 2: wrong", [True, False]),
        ("**Step 1**: Correct.\n**Step 2**: Incorrect, 8 * 2 is 16.", [True, False]),
        ("Step 1 - correct\nStep 2: +", [True, True]),
        ("step 2: wrong", [None, False]),  # a step the judge skipped has no label
        ("I think the solution looks fine.", [None, None]),
    ],
)
def test_parse_judge(reply, expected):
    assert parse_judge(reply, 2) == expected


def test_judge_labeler_through_a_backend():
    backend = FakeBackend(
        lambda prompt, i: (
            "Step 1: wrong\nStep 2: correct" if "= 9." in prompt else "Step 1: correct\nStep 2: correct"
        )
    )
    right, slip = JudgeLabeler(backend).label([RIGHT, SLIP])
    assert right.labels == [True, True]
    assert slip.labels == [False, False]  # closed under "once wrong, wrong after"
    assert "Step 1: Tom buys 3 more" in backend.calls[0] and "2 steps" in backend.calls[0]


def test_agreement_and_prefix():
    a = [StepLabels([True, True, False]), StepLabels([None, False])]
    b = [StepLabels([True, False, False]), StepLabels([True, False])]
    assert agreement(a, b) == (3, 4)
    assert agreeing_prefix(a[0], b[0]) == 1
    assert agreeing_prefix(a[1], b[1]) == 0


def write_solutions(path, items):
    rows = [
        {"id": s.id, "problem": s.problem, "answer": s.answer, "solution": " " + "\n".join(s.steps)}
        for s in items
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_label_prm_rule_on_a_solutions_file_resumes_without_duplicates(tmp_path):
    source, out = tmp_path / "solutions.jsonl", tmp_path / "labels.jsonl"
    write_solutions(source, [RIGHT, SLIP])
    config = LabelConfig(labeler="rule", solutions_path=str(source), output=str(out))
    assert label_prm(config)["records"] == 2
    write_solutions(source, [RIGHT, SLIP, LATE, HIDDEN])  # more arrive; the first two are skipped
    stats = label_prm(config)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert stats["records"] == 2 and [r["id"] for r in rows] == ["right", "slip", "late", "hidden"]
    assert rows[2]["labels"] == [True, False] and rows[3]["labels"] == [None, False]
    assert rows[0]["completions"][0] == "Step 1: Tom buys 3 more, so 5 + 3 = 8."


def test_label_prm_drop_unknown_keeps_strict_trl_records(tmp_path):
    source, out = tmp_path / "solutions.jsonl", tmp_path / "labels.jsonl"
    write_solutions(source, [RIGHT, HIDDEN])
    stats = label_prm(
        LabelConfig(labeler="rule", solutions_path=str(source), output=str(out), unknown="drop")
    )
    assert stats["records"] == 1 and stats["dropped"] == 1


def test_label_config_errors_say_what_to_set():
    with pytest.raises(ValueError, match="valid: rule, mc, judge"):
        LabelConfig(labeler="oracle", solutions_path="x")
    with pytest.raises(ValueError, match="--model"):
        LabelConfig(labeler="mc", solutions_path="x")
    with pytest.raises(ValueError, match="data_path"):
        LabelConfig(import_format="prm800k")


def test_solve_output_rows_are_read_with_their_gold_answer(tmp_path):
    from wizardmath.data.templates import format_prompt

    source, out = tmp_path / "sft_rejected.jsonl", tmp_path / "labels.jsonl"
    row = {
        "id": "p/neg0",
        "problem": PROBLEM,
        "prompt": format_prompt(PROBLEM),
        "completion": " " + "\n".join(LATE.steps),
        "answer": "17",
        "gold": "16",
    }
    source.write_text(json.dumps(row) + "\n")
    label_prm(LabelConfig(labeler="rule", solutions_path=str(source), output=str(out)))
    record = json.loads(out.read_text())
    assert record["prompt"] == PROBLEM and record["answer"] == "16" and record["labels"] == [True, False]
