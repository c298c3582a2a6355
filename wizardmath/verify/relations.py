"""Relations as answers: chained equalities, inequalities as intervals, unions written with "or".

Pure AST rewrites (no sympy): the comparison in ``equivalence`` calls these before it matches
structures, so ``x = 5 + 5 + 1 = 11`` is read as ``x = 11``, ``x > 2`` as ``(2, \\infty)`` and
``x < -2 \\text{ or } x > 3`` (which the normaliser turns into the list ``x < -2, x > 3``) as
``(-\\infty, -2) \\cup (3, \\infty)``.
"""

from __future__ import annotations

from fractions import Fraction

from wizardmath.verify.grammar import Node

OO: Node = ("const", "oo")
NEG_OO: Node = ("neg", ("const", "oo"))
INEQUALITIES = frozenset(["<", ">", "<=", ">="])
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}


def has_symbol(node: object) -> bool:
    if not isinstance(node, tuple) or not node:
        return False
    if node[0] == "sym":
        return True
    return any(has_symbol(child) for child in node[1:] if isinstance(child, tuple))


def chain_sides(node: Node) -> list[Node]:
    """``a = b = c`` -> ``[a, b, c]`` (a chain of ``=`` only); any other node -> ``[node]``."""
    sides: list[Node] = []
    while node[0] == "rel" and node[1] == "=" and len(sides) < 64:
        sides.append(node[3])
        node = node[2]
    sides.append(node)
    return sides[::-1]


def resolve_approx(node: Node) -> Node:
    """A chain that ends in a rounding, ``x = 5 + 5 + 1 = 1/3 \\approx 0.33``, as
    ``("approx", x = 1/3, x = 0.33)``: the answer states both the exact value and its rounding, and
    either may be the gold (``12\\pi \\approx 37.7`` answers ``12\\pi`` and ``37.7``;
    ``24000 \\cdot 1.01^{30} \\approx 32348`` answers ``32348``). An ``\\approx`` inside a chain
    (``2.33/43 \\approx 0.054 = 5.4``) or alone (``x \\approx 11``) reads as ``=``."""
    if node[0] == "seq":
        return (*node[:3], tuple(resolve_approx(item) for item in node[3]))
    if node[0] != "rel":
        return node
    sides, ops = [], []
    while node[0] == "rel" and len(ops) < 64:
        ops.append(node[1])
        sides.append(node[3])
        node = node[2]
    sides.append(node)
    sides, ops = sides[::-1], ops[::-1]
    if "approx" not in ops:
        return _chain(sides, ops)
    ops = ["=" if op == "approx" and i < len(ops) - 1 else op for i, op in enumerate(ops)]
    if ops[-1] != "approx" or not set(ops[:-1]) <= {"="} or (len(sides) == 2 and has_symbol(sides[0])):
        return _chain(sides, ["=" if op == "approx" else op for op in ops])
    exact = _chain(sides[:-1], ops[:-2] + ops[-2:-1])
    rounded = _chain(sides[:-2] + sides[-1:], ops[:-1])
    return ("approx", exact, rounded)


def _chain(sides: list[Node], ops: list[str]) -> Node:
    out = sides[0]
    for op, side in zip(ops, sides[1:], strict=True):
        out = ("rel", op, out, side)
    return out


def names_quantity(node: Node) -> bool:
    """Whether ``node`` names one quantity (``k``, ``f(x)``, ``|AB|``, ``AB``, ``V_1:V_2``) rather than
    being an expression (``2x + z``, ``a^2 + b``) whose equation is itself the answer."""
    kind = node[0]
    if kind == "sym":
        return True
    if kind == "func":
        return node[2][0] == "sym"
    if kind == "abs":
        return names_quantity(node[1])
    if kind in ("mul", "div"):
        return names_quantity(node[1]) and names_quantity(node[2])
    if kind == "seq":  # (p, q) = (3, 2)
        return all(names_quantity(item) for item in node[3])
    return False


def collapse_chain(node: Node) -> Node:
    """``x = 5 + 5 + 1 = 11`` -> ``x = 11``: the first side and the last (the result) are the answer;
    ``2 + 3 = 5`` (no variable) -> ``5``; three or more sides that do not start with a name are an
    expression simplified step by step, whose last side is the answer."""
    if node[0] != "rel" or node[1] != "=":
        return node
    sides = chain_sides(node)
    if not any(has_symbol(side) for side in sides):
        return sides[-1]
    if len(sides) > 2 and not has_symbol(sides[-1]):
        return ("rel", "=", sides[0], sides[-1])
    if len(sides) > 2 and names_quantity(sides[0]):  # r(x) = ax + b = -13x + 3
        return ("rel", "=", sides[0], sides[-1])
    if len(sides) > 2 and names_quantity(sides[-1]):  # 36 - 7 - 2 - 10 = 17 = x
        return ("rel", "=", sides[-1], sides[-2])
    if len(sides) > 2:  # (1+2i)6 - 3i = 6 + 12i - 3i = 6 + 9i: an expression simplified step by step
        return sides[-1]
    return node


def as_interval(node: Node) -> Node:
    """``x > 2`` -> ``(2, \\infty)``, ``1 <= x < 3`` -> ``[1, 3)``; other nodes unchanged."""
    if node[0] != "rel" or node[1] not in INEQUALITIES:
        return node
    op, left, right = node[1], node[2], node[3]
    absolute = _absolute_interval(op, left, right)
    if absolute is not None:
        return absolute
    if left[0] == "rel" and names_quantity(left[3]) and right[0] != "rel":  # 1 < x < 3, 0 < f(x) < 1
        inner = left[1]
        if inner in ("<", "<=") and op in ("<", "<="):
            return ("seq", "(" if inner == "<" else "[", ")" if op == "<" else "]", (left[2], right))
        if inner in (">", ">=") and op in (">", ">="):  # 3 > x >= 1 is [1, 3)
            return ("seq", "(" if op == ">" else "[", ")" if inner == ">" else "]", (right, left[2]))
        return node
    if left[0] == "sym" and right[0] != "rel" and not has_symbol(right):
        bound, var_left = right, True
    elif right[0] == "sym" and left[0] != "rel" and not has_symbol(left):
        bound, var_left = left, False
    else:
        return node
    upper = (op in ("<", "<=")) == var_left  # x < b, or b > x: b is the upper bound
    closed = op in ("<=", ">=")
    if upper:
        return ("seq", "(", "]" if closed else ")", (NEG_OO, bound))
    return ("seq", "[" if closed else "(", ")", (bound, OO))


def _absolute_interval(op: str, left: Node, right: Node) -> Node | None:
    """``|x| < b`` -> ``(-b, b)``, ``|x| >= a`` -> ``(-\\infty, -a] \\cup [a, \\infty)`` and
    ``a <= |x| <= b`` -> ``[-b, -a] \\cup [a, b]``, for numeric bounds ``a >= 0``; else None."""
    if left[0] == "abs" and names_quantity(left[1]) and _nonnegative(right):
        closed = op in ("<=", ">=")
        if op in ("<", "<="):
            return ("seq", "[" if closed else "(", "]" if closed else ")", (("neg", right), right))
        return (
            "cup",
            ("seq", "(", "]" if closed else ")", (NEG_OO, ("neg", right))),
            ("seq", "[" if closed else "(", ")", (right, OO)),
        )
    if left[0] != "rel" or left[3][0] != "abs" or not names_quantity(left[3][1]) or right[0] == "rel":
        return None
    inner, low = left[1], left[2]
    if inner not in ("<", "<=") or op not in ("<", "<=") or not _nonnegative(low) or not _nonnegative(right):
        return None
    low_open, low_close = ("[", "]") if inner == "<=" else ("(", ")")
    high_open, high_close = ("[", "]") if op == "<=" else ("(", ")")
    return (
        "cup",
        ("seq", high_open, low_close, (("neg", right), ("neg", low))),
        ("seq", low_open, high_close, (low, right)),
    )


def _nonnegative(node: Node) -> bool:
    from wizardmath.verify.numeric import TooBig, exact_value

    try:
        value = exact_value(node)
    except TooBig:
        return False
    return value is not None and value >= 0


def _variable(node: Node) -> str | None:
    """The variable a one-variable inequality constrains, else None."""
    for side in (
        node[2],
        node[3],
        node[2][2] if node[2][0] == "rel" else None,
        node[2][3] if node[2][0] == "rel" else None,
    ):
        if side is not None and side[0] == "sym":
            return side[1]
    return None


def _bound(node: Node, value_of) -> Fraction | None:
    if node in (OO, NEG_OO):
        return Fraction(10) ** 400 * (1 if node == OO else -1)
    return value_of(node)


def union_of_inequalities(node: Node, value_of) -> Node:
    """A list of one-variable inequalities (``x < -2, x > 3``: "or" in words) as the union of their
    intervals when they are disjoint; two overlapping rays read as "and" (``x > 2, x < 5`` is
    ``(2, 5)``); other overlaps are left alone. ``value_of`` gives a bound's exact value or None."""
    if node[0] != "seq" or node[1] != "" or len(node[3]) < 2:
        return node
    items = node[3]
    if not all(item[0] == "rel" and item[1] in INEQUALITIES for item in items):
        return node
    if len({_variable(item) for item in items}) != 1 or _variable(items[0]) is None:
        return node
    intervals = [as_interval(item) for item in items]
    if any(interval[0] != "seq" for interval in intervals):
        return node
    bounds = [(_bound(iv[3][0], value_of), _bound(iv[3][1], value_of)) for iv in intervals]
    if all(lo is not None and hi is not None for lo, hi in bounds):
        ordered = sorted(bounds)
        if any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1)):
            return _intersection(intervals, bounds) or node
    union = intervals[0]
    for interval in intervals[1:]:
        union = ("cup", union, interval)
    return union


def _intersection(intervals: list[Node], bounds: list[tuple]) -> Node | None:
    """``x > 2, x < 5`` (overlapping rays: "and") -> ``(2, 5)``; other overlaps None."""
    if len(intervals) != 2:
        return None
    lower = [
        iv for iv, (lo, _hi) in zip(intervals, bounds, strict=True) if iv[3][1] == OO and iv[3][0] != NEG_OO
    ]
    upper = [
        iv for iv, (_lo, hi) in zip(intervals, bounds, strict=True) if iv[3][0] == NEG_OO and iv[3][1] != OO
    ]
    if len(lower) != 1 or len(upper) != 1:
        return None
    return ("seq", lower[0][1], upper[0][2], (lower[0][3][0], upper[0][3][1]))


def unwrap_equation(node: Node) -> Node:
    """``x = 3`` -> ``3`` (also ``3 = x``), for comparing an equation with a bare value."""
    if node[0] == "rel" and node[1] == "=":
        left, right = node[2], node[3]
        if _is_symbol(left) and not _is_symbol(right):
            return right
        if _is_symbol(right) and not _is_symbol(left):
            return left
        if _is_symbol(left) and right[0] != "rel":
            return right
        if left[0] != "rel" and right[0] != "rel":  # "a + b = 4", "f(3) = 8": the value it states
            return left if has_symbol(right) and not has_symbol(left) else right
    return node


def _is_symbol(node: Node) -> bool:
    return node[0] == "sym" or (node[0] == "func" and node[2][0] == "sym")
