"""How unfinished outputs are graded: a repetition loop earns nothing even when it repeats the right
number; an output cut at the length limit is graded on what it states and counted apart; the summary
says how many answers were found."""

from __future__ import annotations

from wizardmath.backends.base import Generation
from wizardmath.data import MathProblem
from wizardmath.eval.grading import grade_chunk
from wizardmath.eval.metrics import summarize


def gen(text: str, finish: str = "stop") -> Generation:
    return Generation(text=text, finish_reason=finish)


def test_a_loop_with_the_right_number_is_wrong_and_counted():
    problems = [MathProblem(id=str(i), problem="q", answer="540") for i in range(4)]
    completions = [
        [gen("#### 540\n" * 40, "length")],  # the base model's "correct" loops
        [gen("Step 1: 270 * 2 = 540\nThe answer is: 540")],
        # cut after stating its answer, not looping: graded on what it states
        [gen("Step 1: 270 * 2 = 540\nThe answer is: 540\nTo check: 540 / 2 = 270, and", "length")],
        [gen("Let me think about the eggs first.")],
    ]
    records = grade_chunk(problems, completions, workers=1)
    assert [r["correct"][0] for r in records] == [False, True, True, False]
    assert [r["loops"][0] for r in records] == [True, False, False, False]
    summary = summarize(records, 1)
    assert summary["loops"] == 1 and summary["truncated"] == 2
    assert summary["accuracy"] == 0.5 and summary["answer_found"] == 0.75
