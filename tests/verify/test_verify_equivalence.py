"""The labelled case table, plus checks of the documented conventions and the public contract."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from wizardmath.verify import VerifyOptions, check, is_equivalent, verify, verify_batch

_spec = importlib.util.spec_from_file_location("verify_cases", Path(__file__).with_name("cases.py"))
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)
ALL = cases.all_cases()


def test_table_is_big_and_balanced():
    assert len(ALL) >= 300
    assert sum(e for *_, e in ALL) > 100 and sum(not e for *_, e in ALL) > 100


@pytest.mark.timeout(60)
def test_table_accuracy():
    """Every labelled pair, in one test so the sandbox worker boots once."""
    wrong = [(group, g[:60], p[:60], e) for group, g, p, e in ALL if verify(g, p) != e]
    assert wrong == []


def test_gold_first_and_reason():
    verdict = check("3", "so x = 3. The answer is: 3")
    assert verdict.equal and verdict.extracted == "3" and verdict.reason
    assert not check("3", "The answer is: 4").equal


def test_is_equivalent_does_not_extract():
    assert is_equivalent("3", "3")
    assert not is_equivalent("3", "x = 2 so the answer is 3 apples and more")


def test_numbers_never_import_sympy():
    import subprocess

    code = (
        "import sys; from wizardmath.verify import verify; "
        "assert verify('1,000', 'The answer is: 1000'); assert verify('0.5', '1/2'); "
        "assert 'sympy' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_symbolic_disabled_is_not_equal_with_reason():
    verdict = check("(x+1)^2", "x^2+2x+1", VerifyOptions(symbolic=False))
    assert not verdict.equal and "symbolic" in verdict.reason


def test_number_fallback_option():
    text = "She has 5 apples and buys 3 more, 8 in all"
    assert verify("8", text)
    assert not verify("8", text, VerifyOptions(number_fallback=False))


@pytest.mark.timeout(60)
def test_percent_option_both_ways():
    """``percent`` is read by the comparer, in-process and in the sympy worker, in tuples too."""
    on = VerifyOptions(percent=True)
    assert verify("50", "50%") and verify("50", "50%", on)  # a percent always equals its number
    assert verify("0.5", "50%") and verify("0.5", "50%", on)  # a stated percent against a plain gold
    assert not verify("50\\%", "0.5") and verify("50\\%", "0.5", on) and verify("25\\%", "0.25", on)
    assert not verify("0.5", "40%") and not verify("0.5", "40%", on)
    assert verify("(0.5, 0.2)", "(50\\%, 20\\%)") and not verify("(50\\%, 20\\%)", "(0.5, 0.2)")
    assert verify("(50\\%, 20\\%)", "(0.5, 0.2)", on)
    radical = ("\\frac{\\sqrt{2}}{2}\\%", "\\frac{\\sqrt{2}}{200}")  # undecided in-process: decided by sympy
    assert not verify(*radical) and verify(*radical, on)
    assert verify(*radical[::-1])


def test_relative_tolerance_option():
    assert not verify("\\frac{1}{3}", "0.333") and verify(
        "\\frac{1}{3}", "0.333", VerifyOptions(rel_tol=1e-2)
    )
    assert verify("\\pi", "3.1416", VerifyOptions(rel_tol=1e-4)) and not verify(
        "\\pi", "3.2", VerifyOptions(rel_tol=1e-4)
    )


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        VerifyOptions().timeout = 1  # type: ignore[misc]


def test_documented_defaults():
    options = VerifyOptions()
    assert options.number_fallback and options.symbolic and options.units and not options.percent
    assert options.rel_tol == 0.0
    assert options.timeout == 2.0 and options.max_answer_chars == 1000 and options.max_depth == 60


def test_issue_examples():
    assert verify("\\frac{1}{6}", "The probability is $\\frac{1}{6}$.")
    assert verify("x \\geq 5", "Therefore $x \\geq 5$ is the solution.")
    assert verify("x < 1", "-x > -1") and not verify("x < 1", "-x < -1")
    assert verify("(-\\infty, -2) \\cup (3, \\infty)", "x < -2 \\text{ or } x > 3")
    assert verify("11", "x = 5 + 5 + 1 = 11") and verify("y = 3x - 2", "3x - y = 2")
    assert not verify("5 \\text{ m}", "5 \\text{ cm}") and verify("5", "5 \\text{ cm}")
    assert not verify("C", "(C) and (D)") and verify("C", "option C")
    assert not verify("1", "lambda: 1") and not verify("1", "\\int_0^1 x\\,dx")


FACTOR = "Factor $x^2 - 5x + 6$ completely."


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("problem", "gold", "response", "equal"),
    [
        # Asked to factor: an expanded answer is wrong, any factor order is right.
        (FACTOR, "(x-2)(x-3)", "The answer is: $(x-3)(x-2)$", True),
        (FACTOR, "(x-2)(x-3)", "The answer is: $x^2 - 5x + 6$", False),
        (FACTOR, "(x-2)(x-3)", "The answer is: $(x-2)(x+3)$", False),
        ("Write $2x^2+4x$ in factored form.", "2x(x+2)", "$\\boxed{2x(x+2)}$", True),
        ("Write $2x^2+4x$ in factored form.", "2x(x+2)", "$\\boxed{2x^2+4x}$", False),
        ("Factorize $4 - x^2$.", "-(x-2)(x+2)", "\\boxed{(2-x)(2+x)}", True),
        # Not asked to factor: equal forms are equal.
        ("Expand $(x-2)(x-3)$.", "x^2-5x+6", "The answer is: $(x-2)(x-3)$", True),
        ("What is the greatest common factor of 12 and 18?", "6", "The answer is: 6", True),
        (None, "(x-2)(x-3)", "The answer is: $x^2 - 5x + 6$", True),
    ],
)
def test_factored_form_from_problem(problem, gold, response, equal):
    assert verify(gold, response, problem=problem) == equal


@pytest.mark.timeout(60)
def test_factored_form_in_batches():
    pairs = [("(x-2)(x-3)", "The answer is: $x^2 - 5x + 6$")] * 2 + [("(x-2)(x-3)", "$\\boxed{(x-3)(x-2)}$")]
    problems = [FACTOR, "Expand the product.", FACTOR]
    assert verify_batch(pairs, problems=problems) == [False, True, True]
    assert verify_batch(pairs) == [True, True, True]


def test_factored_form_option():
    assert not verify("(x+1)^2", "x^2+2x+1", VerifyOptions(factored=True))
    assert verify("x^2+2x+1", "(x+1)^2", VerifyOptions(factored=True))  # the gold is not factored
