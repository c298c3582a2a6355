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


@pytest.mark.parametrize(
    "text",
    [
        'Adding the parts gives 5. The answer is: X"',
        "Adding the parts gives 5. The answer is: X.",
        "Adding the parts gives 5. The answer is: X",
        "The answer is: X”",
    ],
)
def test_echoed_placeholder_is_no_answer(text):
    """The prompt's 'end with "The answer is: X"' echoed back: no answer, not the last number."""
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The answer is: x", "x"),  # a variable answer, lower case
        ("The answer is: $X$", "X"),  # set as math: a named point or variable
        ("\\boxed{X}", "X"),
        ("The answer is: X + 1", "X + 1"),
    ],
)
def test_real_x_answers_still_read(text, want):
    assert extract_answer(text) == want


def test_fallback_can_be_disabled():
    assert extract_answer("She has 8 apples", VerifyOptions(number_fallback=False)) is None


def test_boxed_beats_marker():
    assert extract_answer("The answer is: 4, no wait \\boxed{5}") == "5"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The probability is $\\frac{1}{6}$.", "\\frac{1}{6}"),
        ("Therefore $x \\geq 5$ is the solution.", "x \\geq 5"),
        ("The answer is $x$, i.e. 3.5", "x"),
        ("Final Answer: The largest $n$ is 34", "34"),
        ("The roots are $x = 1$ and $x = 4$.", "x = 1, x = 4"),
        ("Then $a = 2$ and $b = 5$.", "a = 2, b = 5"),
        ("So $x = 2$ and \\boxed{3} and \\boxed{4}", "3, 4"),
        ("There are $500 + 1 = 501$ values of $k$.", "500 + 1 = 501"),
        ("so $AB = \\frac54$, or $1.25$.", "1.25"),
        ("We get $3 \\times 4 = 12$ apples. She eats 2, so 10 are left.", "10"),
        ("It costs $5 and $7 in total, 12 dollars.", "12"),
        ("\\begin{align*}\n2x &= 4 \\\\\nx &= 2\n\\end{align*}", "x = 2"),
        ("<think>maybe \\boxed{8}</think>\nSo the count is $9$.", "9"),
        ("<think>The sum is 9, so \\boxed{9}", "9"),
        ("The function is odd.", "odd"),
        ("**Answer:** 5", "5"),
        ("lambda: 1", None),
        ("\\int_0^1 x\\,dx", None),
    ],
)
def test_extract_from_prose(text, want):
    assert extract_answer(text) == want


def test_unmatched_delimiters_stay_fast():
    import time

    for text in ("$" * 200_000, "\\[" * 100_000, "\\begin{align}" * 20_000, "$5 and " * 30_000):
        start = time.perf_counter()
        extract_answer(text)
        assert time.perf_counter() - start < 1.0
