"""Rewrites of parsed answers before they are compared (pure AST, no sympy): ``\\pm`` expanded into its
answers, percents dropped to their number, and sums and products of written-out matrices evaluated cell
by cell. Each is bounded: at most ``2**MAX_PM`` variants, ``MAX_ITEMS`` items, ``MAX_MATRIX_CELLS`` cells.
"""

from __future__ import annotations

from wizardmath.verify.grammar import Node, ParseError

MAX_PM = 4
MAX_ITEMS = 64


def expand_pm(node: Node, budget: list[int]) -> list[Node]:
    """``a \\pm b`` -> [a + b, a - b], recursively, at most 2**MAX_PM variants."""
    if not isinstance(node, tuple) or not node:
        return [node]
    if node[0] == "pm":
        budget[0] -= 1
        if budget[0] < 0:
            raise ParseError("too many \\pm")
        out = []
        for a in expand_pm(node[1], budget):
            for b in expand_pm(node[2], budget):
                out += [("add", a, b), ("sub", a, b)]
        return out
    if node[0] in ("add", "sub", "mul", "div", "pow"):
        return [(node[0], a, b) for a in expand_pm(node[1], budget) for b in expand_pm(node[2], budget)]
    if node[0] in ("neg", "pct", "abs", "sqrt") and any(has_pm(x) for x in node[1:2]):
        return [(node[0], a, *node[2:]) for a in expand_pm(node[1], budget)]
    return [node]


def has_pm(node: object) -> bool:
    if not isinstance(node, tuple):
        return False
    if node and node[0] == "pm":
        return True
    return any(has_pm(child) for child in node[1:] if isinstance(child, tuple))


def items(node: Node) -> list[Node]:
    """The elements of a comma list / set, with ``\\pm`` expanded into separate answers."""
    raw = list(node[3]) if node[0] == "seq" else [node]
    out: list[Node] = []
    for item in raw:
        out.extend(expand_pm(item, [MAX_PM]) if has_pm(item) else [item])
    if len(out) > MAX_ITEMS:
        raise ParseError("too many items")
    return out


def drop_percent(node: Node, keep_whole: bool = False) -> Node:
    """``50%`` -> ``50`` wherever it stands (lists, tuples, relations, sums: ``100% - 72%`` is 28), so
    a percent equals its number. With ``keep_whole`` a percent that is a whole value (the answer, an
    item, a side) keeps its sign, for the scalar comparison to also try its fraction."""
    if not isinstance(node, tuple) or not node:
        return node
    if node[0] == "pct":
        inner = drop_percent(node[1])
        return ("pct", inner) if keep_whole else inner
    if node[0] in ("seq", "matrix"):
        if node[0] == "matrix":
            return node
        return (*node[:-1], tuple(drop_percent(item, keep_whole) for item in node[-1]))
    if node[0] in ("rel", "cup", "cap"):
        return (node[0], *(drop_percent(c, keep_whole) if isinstance(c, tuple) else c for c in node[1:]))
    if node[0] in ("add", "sub"):
        return (node[0], *(drop_percent(c) for c in node[1:]))
    return node


def strip_pct(node: Node) -> tuple[Node, bool]:
    return (node[1], True) if node[0] == "pct" else (node, False)


MAX_MATRIX_CELLS = 64


def matrix_value(node: Node) -> Node:
    """``A + B``, ``A - B``, ``A B`` and ``c A`` of written-out matrices as one matrix of cell
    expressions (pure AST; the cells are compared as usual); anything else unchanged."""
    kind = node[0]
    if kind not in ("add", "sub", "mul"):
        return node
    a, b = matrix_value(node[1]), matrix_value(node[2])
    if a[0] == "matrix" and b[0] == "matrix":
        ra, rb = a[1], b[1]
        if kind in ("add", "sub") and (len(ra), len(ra[0])) == (len(rb), len(rb[0])):
            pairs = (zip(r1, r2, strict=True) for r1, r2 in zip(ra, rb, strict=True))
            return ("matrix", tuple(tuple((kind, x, y) for x, y in row) for row in pairs))
        if kind == "mul" and len(ra[0]) == len(rb) and len(ra) * len(rb[0]) <= MAX_MATRIX_CELLS:
            cells = []
            for row in ra:
                out_row = []
                for j in range(len(rb[0])):
                    total = ("mul", row[0], rb[0][j])
                    for k in range(1, len(rb)):
                        total = ("add", total, ("mul", row[k], rb[k][j]))
                    out_row.append(total)
                cells.append(tuple(out_row))
            return ("matrix", tuple(cells))
        return node
    if kind == "mul" and (a[0] == "matrix") != (b[0] == "matrix"):
        scalar, matrix = (b, a) if a[0] == "matrix" else (a, b)
        if scalar[0] not in ("seq", "rel", "text"):
            return ("matrix", tuple(tuple(("mul", scalar, c) for c in row) for row in matrix[1]))
    return node
