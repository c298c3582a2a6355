"""Exact rational evaluation of an answer AST, in-process and without sympy.

This is the fast path: GSM8k numbers, fractions, decimals, mixed numbers, percentages, powers and
perfect roots evaluate to a ``Fraction`` in microseconds, so most pairs never reach sympy or the
sandbox. Decimals are exact (``0.333`` is 333/1000, not 1/3). Anything irrational or symbolic
returns ``None`` ("cannot say here"). Sizes are bounded: a power or factorial whose result would
exceed ``max_bits`` raises ``TooBig`` instead of computing it, so ``9**9**9**9`` costs nothing.
"""

from __future__ import annotations

import math
from fractions import Fraction

from wizardmath.verify.grammar import Node


class TooBig(ValueError):
    """The answer asks for a number too large to compute safely (a hostile or absurd power)."""


def _bits(value: Fraction) -> int:
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length(), 1)


def check_power(base_bits: int, exponent: int, max_bits: int) -> None:
    """Raise ``TooBig`` when ``base ** exponent`` would have more than ``max_bits`` bits."""
    if base_bits > 1 and abs(exponent) * base_bits > max_bits:
        raise TooBig(f"power too large (about {abs(exponent) * base_bits} bits)")


def _int_root(value: int, n: int) -> int | None:
    """The exact integer ``n``-th root of ``value`` >= 0, or None when it is not a perfect power."""
    if value < 2:
        return value
    guess = round(value ** (1.0 / n)) if value.bit_length() < 1000 else math.isqrt(value) if n == 2 else None
    if guess is None:
        return None
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**n == value:
            return candidate
    return None


def exact_root(value: Fraction, n: int) -> Fraction | None:
    """``value ** (1/n)`` when it is rational, else None (odd roots of negatives stay real)."""
    if n <= 0 or n > 64:
        return None
    if value < 0:
        if n % 2 == 0:
            return None
        root = exact_root(-value, n)
        return -root if root is not None else None
    num, den = _int_root(value.numerator, n), _int_root(value.denominator, n)
    return Fraction(num, den) if num is not None and den is not None else None


def _power(base: Fraction, exponent: Fraction, max_bits: int) -> Fraction | None:
    if exponent.denominator != 1:
        if exponent.denominator > 64:
            return None
        root = exact_root(base, exponent.denominator)
        return None if root is None else _power(root, Fraction(exponent.numerator), max_bits)
    e = exponent.numerator
    if base == 0:
        return None if e < 0 else Fraction(int(e == 0))
    if base in (1, -1):
        return base**e
    check_power(_bits(base), e, max_bits)
    return base**e


def exact_value(node: Node, max_bits: int = 20_000) -> Fraction | None:
    """The exact rational value of ``node``, None when it has none we can see, ``TooBig`` if huge."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind in ("add", "sub", "mul", "div", "pow"):
        left = exact_value(node[1], max_bits)
        if left is None:
            return None
        right = exact_value(node[2], max_bits)
        if right is None:
            return None
        if kind == "add":
            return left + right
        if kind == "sub":
            return left - right
        if kind == "mul":
            if _bits(left) + _bits(right) > 4 * max_bits:
                raise TooBig("product too large")
            return left * right
        if kind == "div":
            return None if right == 0 else left / right
        return _power(left, right, max_bits)
    if kind in ("neg", "abs", "pct", "floor", "ceil", "fact"):
        inner = exact_value(node[1], max_bits)
        if inner is None:
            return None
        if kind == "neg":
            return -inner
        if kind == "abs":
            return abs(inner)
        if kind == "pct":
            return inner / 100
        if kind == "floor":
            return Fraction(math.floor(inner))
        if kind == "ceil":
            return Fraction(math.ceil(inner))
        if inner.denominator != 1 or inner < 0:
            return None
        if inner > 3000:
            raise TooBig("factorial too large")
        return Fraction(math.factorial(int(inner)))
    if kind == "sqrt":
        inner = exact_value(node[1], max_bits)
        index = exact_value(node[2], max_bits) if node[2] is not None else Fraction(2)
        if inner is None or index is None or index.denominator != 1:
            return None
        return exact_root(inner, int(index))
    if kind == "binom":
        n, k = exact_value(node[1], max_bits), exact_value(node[2], max_bits)
        if n is None or k is None or n.denominator != 1 or k.denominator != 1 or n < 0:
            return None
        if n > 5000:
            raise TooBig("binomial too large")
        return Fraction(math.comb(int(n), int(k))) if k >= 0 else Fraction(0)
    return None
