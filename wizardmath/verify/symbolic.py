"""The sympy side: build sympy objects from the AST (with size bounds) and decide scalar equality.

Only this module imports sympy, and only the sandbox worker (or a caller that is already inside a
worker process) runs it, because sympy calls can take unbounded time. Objects are built node by
node from the AST; no string ever reaches ``sympify``. Before sympy sees a power of two numbers the
result size is checked (``numeric.check_power``), and symbolic powers are capped, so neither
``10^{10^{10}}`` nor ``(x+1)^{10^6}`` is expanded.

Equality of two scalars ``a``, ``b``: ``a - b`` simplifies to 0; or, for constants, it evaluates
to 0 within 1e-30 relative at 60 digits (every input number is an exact rational, so this is exact
in practice: ``0.333`` vs ``1/3`` differs by 1/3000); for expressions with variables, ``a - b``
vanishes at five random points and ``simplify`` agrees (or the points agree to 1e-20).
"""

from __future__ import annotations

import random

import sympy

from wizardmath.verify.compare import fast_scalar
from wizardmath.verify.grammar import Node
from wizardmath.verify.numeric import TooBig, check_power

_FUNCS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "cot": sympy.cot,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "arcsec": sympy.asec,
    "arccsc": sympy.acsc,
    "arccot": sympy.acot,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "sgn": sympy.sign,
}
_MULTI = {"gcd": sympy.gcd, "lcm": sympy.lcm, "max": sympy.Max, "min": sympy.Min}
_CONSTS = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo}
_SPECIAL_SYMBOLS = {"e": sympy.E, "i": sympy.I}
MAX_SYMBOLIC_EXPONENT = 200


class NotScalar(ValueError):
    """The node is a structure (tuple, set, equation, text), not a single expression."""


def _bits(value: sympy.Rational) -> int:
    p, q = int(value.p), int(value.q)
    return max(abs(p).bit_length(), q.bit_length(), 1)


def _pow(base: sympy.Expr, exponent: sympy.Expr, max_bits: int) -> sympy.Expr:
    if exponent.is_Rational and base.is_Rational:
        check_power(_bits(base), int(exponent.p) // max(int(exponent.q), 1) or 1, max_bits)
    elif exponent.is_Number:
        if exponent.is_Rational and abs(exponent) > MAX_SYMBOLIC_EXPONENT:
            raise TooBig("symbolic power too large")
        if exponent.is_Float or exponent.is_infinite:
            raise TooBig("non-rational exponent")
    elif (
        base.is_Number
        and abs(base) > 1
        and any(  # b ** (expression): keep the exponent small
            a.is_Number and abs(a) > MAX_SYMBOLIC_EXPONENT for a in sympy.preorder_traversal(exponent)
        )
    ):
        raise TooBig("exponent expression too large")
    return sympy.Pow(base, exponent)


def to_sympy(node: Node, max_bits: int = 20_000) -> sympy.Expr:
    """Build the sympy expression for a scalar AST node; raise ``NotScalar`` or ``TooBig``."""
    kind = node[0]
    if kind == "num":
        return sympy.Rational(node[1].numerator, node[1].denominator)
    if kind == "sym":
        return _SPECIAL_SYMBOLS.get(node[1]) or sympy.Symbol(node[1])
    if kind == "const":
        return _CONSTS[node[1]]
    if kind in ("add", "sub", "mul", "div", "pow"):
        a, b = to_sympy(node[1], max_bits), to_sympy(node[2], max_bits)
        if kind == "add":
            return a + b
        if kind == "sub":
            return a - b
        if kind == "mul":
            return a * b
        if kind == "div":
            if b == 0:
                raise NotScalar("division by zero")
            return a / b
        return _pow(a, b, max_bits)
    if kind in ("neg", "pct", "abs", "floor", "ceil"):
        a = to_sympy(node[1], max_bits)
        return {
            "neg": lambda: -a,
            "pct": lambda: a / 100,
            "abs": lambda: sympy.Abs(a),
            "floor": lambda: sympy.floor(a),
            "ceil": lambda: sympy.ceiling(a),
        }[kind]()
    if kind == "fact":
        a = to_sympy(node[1], max_bits)
        if a.is_Number and (not a.is_Integer or a > 3000):
            raise TooBig("factorial too large")
        return sympy.factorial(a)
    if kind == "sqrt":
        a = to_sympy(node[1], max_bits)
        if node[2] is None:
            return sympy.sqrt(a)
        n = to_sympy(node[2], max_bits)
        if not (n.is_Integer and 1 <= n <= 64):
            raise TooBig("bad root index")
        return sympy.root(a, n) if not (a.is_negative and n % 2 == 1) else -sympy.root(-a, n)
    if kind == "binom":
        n, k = to_sympy(node[1], max_bits), to_sympy(node[2], max_bits)
        if n.is_Number and abs(n) > 5000:
            raise TooBig("binomial too large")
        return sympy.binomial(n, k)
    if kind == "log":
        a = to_sympy(node[1], max_bits)
        return sympy.log(a) if node[2] is None else sympy.log(a, to_sympy(node[2], max_bits))
    if kind == "func":
        name, arg = node[1], node[2]
        if name in _MULTI:
            items = arg[3] if arg[0] == "seq" and arg[1] in ("", "(") else (arg,)
            return _MULTI[name](*[to_sympy(item, max_bits) for item in items])
        if name == "det":
            raise NotScalar("det")
        return _FUNCS[name](to_sympy(arg, max_bits))
    raise NotScalar(kind)


_POINTS_RNG = random.Random(20240611)
_POINTS = [[_POINTS_RNG.uniform(0.2, 2.9) * (-1 if j % 3 == 2 else 1) for j in range(8)] for _ in range(5)]


def _near_zero(value: sympy.Expr, scale: sympy.Expr, tol: float) -> bool | None:
    """True/False for a numeric ``value`` relative to ``scale``; None when it is not a number."""
    try:
        v = complex(value)
        s = abs(complex(scale))
    except (TypeError, ValueError, OverflowError):
        return None
    if v != v:  # nan
        return None
    return abs(v) <= tol * max(1.0, s)


def sympy_equal(a: sympy.Expr, b: sympy.Expr, rel_tol: float = 0.0) -> bool:
    """Whether two sympy scalars are mathematically equal (see the module docstring)."""
    if a == b:
        return True
    if a.has(sympy.zoo, sympy.nan) or b.has(sympy.zoo, sympy.nan):
        return False
    if a.is_infinite or b.is_infinite:
        return bool(a == b)
    diff = a - b
    if diff == 0:
        return True
    free = sorted(diff.free_symbols, key=lambda s: s.name)
    if not free:
        value = diff.evalf(60)
        if value == 0:
            return True
        near = _near_zero(value, a.evalf(60), max(1e-30, rel_tol))
        if near is not None:
            return near
        return sympy.simplify(diff) == 0
    agree = 0
    for point in _POINTS:
        subs = {sym: point[i % len(point)] for i, sym in enumerate(free)}
        try:
            value = diff.evalf(30, subs=subs)
            scale = a.evalf(30, subs=subs)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        near = _near_zero(value, scale, 1e-20)
        if near is False:
            return False
        agree += near is True
    if sympy.expand(diff) == 0 or sympy.simplify(diff) == 0:
        return True
    return agree >= 4


def sympy_scalar(max_bits: int, rel_tol: float = 0.0):
    """The scalar comparator for ``compare.compare_nodes`` that falls back to sympy."""
    fast = fast_scalar(max_bits, rel_tol)

    def same(a: Node, b: Node) -> bool:
        if b[0] == "ratio":  # rearranged relations: is a (a ratio of two sides) a nonzero constant?
            try:
                ratio = sympy.simplify(to_sympy(a, max_bits))
            except NotScalar:
                return False
            if not (ratio.is_number and ratio != 0 and ratio.is_finite):
                return False
            sign = b[1] if len(b) > 1 else ""
            return (
                bool(ratio.is_positive) if sign == "+" else bool(ratio.is_negative) if sign == "-" else True
            )
        quick = fast(a, b)
        if quick is not None:
            return quick
        try:
            return sympy_equal(to_sympy(a, max_bits), to_sympy(b, max_bits), rel_tol)
        except NotScalar:
            return False

    same.value_of = fast.value_of  # type: ignore[attr-defined]
    return same
