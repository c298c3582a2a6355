"""Answer extraction: boxes, markers, GSM8k lines, bare answers and the number fallback."""

from __future__ import annotations

import pytest

from wizardmath.verify import VerifyOptions, extract_answer, extract_boxed


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("so $\\boxed{5}$.", "5"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("a \\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("\\boxed 5", "5"),
        ("\\fbox{x+1}", "x+1"),
        ("\\boxed{a{b{c}}}", "a{b{c}}"),
        ("no box here", None),
        ("\\boxed{unclosed", None),
        ("\\boxed{ok} \\boxed{unclosed", "ok"),
    ],
)
def test_extract_boxed(text, want):
    assert extract_boxed(text) == want


def test_extract_boxed_deep_is_linear():
    text = "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}"
    assert extract_boxed(text) == "{" * 5000 + "1" + "}" * 5000


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("so x = 3. The answer is: 3", "3"),
        ("The answer is: $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The final answer is 18", "18"),
        ("Final Answer: The final answer is $18$. I hope it is correct.", "18"),
        ("He makes 9 * 2 = 18.\n#### 1,080", "1,080"),
        ("x = 3", "x = 3"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}"),
        ("\\text{Monday}", "\\text{Monday}"),
        ("(B)", "(B)"),
        ("She has 5 apples and buys 3 more, 8 in all.", "8"),
        ("It costs $1,250.50 in total.", "1,250.50"),
        ("", None),
        ("no numbers at all in this text", None),
    ],
)
def test_extract_answer(text, want):
    assert extract_answer(text) == want


def test_fallback_can_be_disabled():
    assert extract_answer("She has 8 apples", VerifyOptions(number_fallback=False)) is None


def test_boxed_beats_marker():
    assert extract_answer("The answer is: 4, no wait \\boxed{5}") == "5"
