"""The pure comparer: two extracted answer strings, structure first, then scalars.

``compare_strings(gold, answer, options, same)`` normalises and parses both answers (``normalize``,
``grammar``) and compares the trees: tuples, sets, intervals, matrices, relations, then scalars via
``same``. ``fast_scalar`` decides scalars with exact rationals and answers ``None`` (undecided) when
algebra is needed; ``symbolic.sympy_scalar`` is the sympy comparator the sandbox workers use. Nothing
here extracts answers from prose, starts processes or imports sympy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

from wizardmath.verify.grammar import Node, ParseError, parse
from wizardmath.verify.normalize import Prepared, choice_value, multiple_choice, prepare
from wizardmath.verify.numeric import TooBig, exact_value
from wizardmath.verify.options import VerifyOptions
from wizardmath.verify.relations import (
    FLIP,
    as_interval,
    collapse_chain,
    has_symbol,
    names_quantity,
    resolve_approx,
    union_of_inequalities,
    unwrap_equation,
)
from wizardmath.verify.rewrites import drop_percent, has_pm, items, matrix_value, strip_pct

Scalar = Callable[[Node, Node], "bool | None"]


# -- AST helpers ---------------------------------------------------------------------------------
# -- matching --------------------------------------------------------------------------------------
def _ordered(gold: list[Node], pred: list[Node], same: Scalar) -> bool | None:
    if len(gold) != len(pred):
        return False
    verdicts = [compare_nodes(g, p, same) for g, p in zip(gold, pred, strict=True)]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def _unordered(gold: list[Node], pred: list[Node], same: Scalar) -> bool | None:
    """Multiset equality by bipartite matching; ``None`` results count as maybe."""
    if len(gold) != len(pred):
        return False
    table = [[compare_nodes(g, p, same) for p in pred] for g in gold]

    def perfect(ok: Callable[[bool | None], bool]) -> bool:
        match: list[int] = [-1] * len(pred)

        def augment(i: int, seen: set[int]) -> bool:
            for j in range(len(pred)):
                if j not in seen and ok(table[i][j]):
                    seen.add(j)
                    if match[j] < 0 or augment(match[j], seen):
                        match[j] = i
                        return True
            return False

        return all(augment(i, set()) for i in range(len(gold)))

    if perfect(lambda v: v is True):
        return True
    if not perfect(lambda v: v is not False):
        return False
    return None


def _compare_relations(gold: Node, pred: Node, same: Scalar) -> bool | None:
    _, gop, gl, gr = gold
    _, pop, pl, pr = pred
    straight = _ordered([gl, gr], [pl, pr], same) if gop == pop else False
    if straight is True:
        return True
    flipped = _ordered([gl, gr], [pr, pl], same) if FLIP.get(gop) == pop else False
    if flipped is True:
        return True
    if gl[0] != "rel" and pl[0] != "rel" and (gop == pop or FLIP.get(gop) == pop):
        # the same relation rearranged: gold's (left - right) is a constant multiple of pred's,
        # positive for the same inequality, negative for the flipped one (-x > -1 is x < 1)
        sign = "" if gop in ("=", "!=") else "+" if gop == pop else "-"
        proportional = same(("div", ("sub", gl, gr), ("sub", pl, pr)), ("ratio", sign))
        if proportional is not False:
            return proportional
    return None if None in (straight, flipped) else False


def _finite_union(node: Node) -> Node | None:
    """A union of finite sets as one set; a set as itself; anything else None."""
    if node[0] == "seq" and (node[1], node[2]) == ("{", "}"):
        return node
    if node[0] == "cup":
        left, right = _finite_union(node[1]), _finite_union(node[2])
        if left is not None and right is not None:
            return ("seq", "{", "}", left[3] + right[3])
    return None


def _interval_parts(node: Node) -> list[Node] | None:
    if node[0] in ("cup",):
        left, right = _interval_parts(node[1]), _interval_parts(node[2])
        return None if left is None or right is None else left + right
    if node[0] == "seq" and node[1] in "([" and node[2] in ")]" and len(node[3]) == 2:
        return [node]
    return None


def compare_nodes(gold: Node, pred: Node, same: Scalar) -> bool | None:
    """True / False / None (undecided) for two parsed answers; ``same`` compares two scalars."""
    if gold == pred:
        return True
    if gold[0] == "approx":  # a gold states its exact value
        gold = gold[1]
    if pred[0] == "approx":  # "12\\pi \\approx 37.7": either the exact value or its rounding
        verdicts = [compare_nodes(gold, side, same) for side in pred[1:]]
        return True if True in verdicts else None if None in verdicts else False
    gold, pred = _canonical(gold, same), _canonical(pred, same)
    gk, pk = gold[0], pred[0]
    if gk == "text" or pk == "text":
        return gk == pk and gold[1] == pred[1]
    if gk == "rel" and pk == "rel":
        verdict = _compare_relations(gold, pred, same)
        g2, p2 = as_interval(gold), as_interval(pred)
        if verdict is False and g2[0] != "rel" and p2[0] != "rel":  # |x| < 3 and -3 < x < 3
            return compare_nodes(g2, p2, same)
        return verdict
    if gk == "rel" or pk == "rel":
        g2, p2 = as_interval(gold), as_interval(pred)
        if (g2 is not gold or p2 is not pred) and g2[0] != "rel" and p2[0] != "rel":
            return compare_nodes(g2, p2, same)
        if gk == "rel" and _states_an_equation(gold):
            return False  # gold "2x + z = 1" asks for the equation: the bare value 1 is not it
        g2, p2 = unwrap_equation(gold), unwrap_equation(pred)
        if g2 is gold and p2 is pred:
            return False
        return compare_nodes(g2, p2, same)
    if gk in ("cup", "cap") or pk in ("cup", "cap"):
        gs, ps = _finite_union(gold), _finite_union(pred)
        if gs is not None and ps is not None:  # \{1,3\} \cup \{2\} is \{1,2,3\}
            return _compare_seq(gs, ps, same)
        gp, pp = _interval_parts(gold), _interval_parts(pred)
        if gp is None or pp is None or gk != pk:
            return False
        return _unordered(gp, pp, same)
    if gk == "matrix" or pk == "matrix":
        return _compare_matrix(gold, pred, same)
    if gk == "seq" or pk == "seq" or has_pm(gold) or has_pm(pred):
        return _compare_seq(gold, pred, same)
    return _compare_scalar(gold, pred, same)


def _is_product(node: Node) -> bool:
    """A factored expression: a product or power with a variable (``-(x+1)(x-1)``, ``2(x+3)^2``)."""
    while node[0] == "neg":
        node = node[1]
    return node[0] in ("mul", "pow") and has_symbol(node)


def _states_an_equation(node: Node) -> bool:
    """An equation whose one side with variables is an expression, not the name of a quantity:
    ``2x + z = 1`` (an equation is the answer), not ``k = 1``, ``f(x) = 1`` or ``A:B = 1``."""
    if node[1] != "=" or node[2][0] == "rel":
        return False
    left, right = node[2], node[3]
    if has_symbol(left) == has_symbol(right):
        return False
    return not names_quantity(left if has_symbol(left) else right)


def _canonical(node: Node, same: Scalar) -> Node:
    """Chained equalities collapsed to their result; lists of inequalities to a union or intersection;
    sums and products of written-out matrices evaluated cell by cell."""
    node = matrix_value(collapse_chain(node))
    if node[0] == "seq" and node[1] == "":
        node = union_of_inequalities(node, getattr(same, "value_of", lambda _n: None))
    return node


def _compare_matrix(gold: Node, pred: Node, same: Scalar) -> bool | None:
    def cells(node: Node) -> list[Node] | None:
        if node[0] == "matrix":
            rows = node[1]
            return [c for row in rows for c in row] if len(rows) == 1 or len(rows[0]) == 1 else None
        if node[0] == "seq" and node[1] in ("(", "["):
            return list(node[3])
        return None

    if gold[0] == "matrix" and pred[0] == "matrix":
        if len(gold[1]) != len(pred[1]) or len(gold[1][0]) != len(pred[1][0]):
            return False
        return _ordered([c for r in gold[1] for c in r], [c for r in pred[1] for c in r], same)
    gc, pc = cells(gold), cells(pred)
    return False if gc is None or pc is None else _ordered(gc, pc, same)


def _named_values(items: list[Node]) -> bool:
    """Whether ``items`` are ``name = value`` equations for distinct names (``x = 2, y = 3``)."""
    names = [item[2] for item in items if item[0] == "rel" and item[1] == "=" and item[2][0] == "sym"]
    return len(names) == len(items) and len(set(names)) == len(names)


def _distinct(items: list[Node]) -> list[Node]:
    out: list[Node] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


FILLER_WORDS = frozenset(
    ["on", "at", "in", "the", "a", "an", "it", "is", "called", "named", "by", "from", "to", "of"]
)


def same_words(gold: str, pred: str) -> bool:
    """Word answers: equal, or the prediction is the gold words after filler ("on Monday")."""
    if gold == pred:
        return True
    head = pred[: -len(gold)].split() if pred.endswith(" " + gold) else None
    return head is not None and all(word in FILLER_WORDS for word in head)


def _compare_seq(gold: Node, pred: Node, same: Scalar) -> bool | None:
    gi, pi = items(gold), items(pred)
    if gold[0] != "seq" and len(pi) > 1 and _named_values([collapse_chain(item) for item in pi]):
        pi = [collapse_chain(pi[-1])]  # "a = 2, b = 5" answering b; "c = 14, a_1 = 14 \\cdot 36 = 504"
    if not any(item[0] == "rel" for item in gi):  # gold 1, 4 vs "x = 1 and x = 4"
        pi = [unwrap_equation(collapse_chain(item)) for item in pi]
    elif not any(item[0] == "rel" for item in pi):
        gi = [unwrap_equation(collapse_chain(item)) for item in gi]
    gb = (gold[1], gold[2]) if gold[0] == "seq" else ("", "")
    pb = (pred[1], pred[2]) if pred[0] == "seq" else ("", "")
    if len(gi) == 1 and len(pi) > 1 and gold[0] != "seq" and pb == ("", ""):
        # one value against "a or b": a restatement ("5/4, or 1.25") when every alternative is the
        # gold, a hedge ("5 or 6") otherwise, which must never be credited
        verdicts = [compare_nodes(gi[0], item, same) for item in pi]
        return False if False in verdicts else None if None in verdicts else True
    if gb == ("{", "}") or pb == ("{", "}"):  # a set has no multiplicity: {1, 2, 2} is {1, 2}
        gi, pi = _distinct(gi), _distinct(pi)
    elif gb == pb == ("", "") and len(_distinct(gi)) == len(gi):
        pi = _distinct(pi)  # solutions listed with one written twice; a gold with repeats keeps them
    if gb == ("{", "}") or pb == ("{", "}") or (gb == ("", "") and pb == ("", "")):
        if {gb, pb} <= {("{", "}"), ("", "")}:
            return _unordered(gi, pi, same)
        return False
    if gb == pb:
        return _ordered(gi, pi, same)
    if "" in (gb[0], pb[0]) and ("(", ")") in (gb, pb):  # "(1, 2)" vs "1, 2": a point written bare
        return _ordered(gi, pi, same)
    return False


def _compare_scalar(gold: Node, pred: Node, same: Scalar) -> bool | None:
    g, g_pct = strip_pct(gold)
    p, p_pct = strip_pct(pred)
    if g_pct == p_pct:
        return same(g, p)
    plain, scaled = (g, p) if p_pct else (p, g)  # compare x with y and with y/100
    first = same(plain, scaled)
    if first is True:
        return True
    second = same(plain, ("div", scaled, ("num", Fraction(100), "100")))
    if second is True:
        return True
    return None if None in (first, second) else False


def fast_scalar(max_bits: int, rel_tol: float = 0.0) -> Scalar:
    """Scalar comparison without sympy: exact rationals, else identical ASTs, else undecided."""

    def same(a: Node, b: Node) -> bool | None:
        if b[0] == "ratio":
            return None
        va = exact_value(a, max_bits)
        if va is not None:
            vb = exact_value(b, max_bits)
            if vb is not None:
                return va == vb or (rel_tol > 0 and abs(va - vb) <= Fraction(rel_tol) * max(abs(va), abs(vb)))
        return True if a == b else None

    def value_of(node: Node) -> Fraction | None:
        try:
            return exact_value(node, max_bits)
        except TooBig:
            return None

    same.value_of = value_of  # type: ignore[attr-defined]
    return same


# -- the whole pair ---------------------------------------------------------------------------------
_IMPLIES = re.compile(r"\\(?:Rightarrow|Longrightarrow|implies|therefore)(?![a-zA-Z])")


def result_side(answer: str) -> str | None:
    """What follows the last top-level ``=`` (or ``\\Rightarrow``) of ``answer``, else None."""
    depth, cut = 0, -1
    for i, ch in enumerate(answer):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch == "=" and depth == 0 and answer[i - 1 : i] not in ("<", ">", "!", "\\"):
            cut = i + 1
    arrows = list(_IMPLIES.finditer(answer))
    if arrows and arrows[-1].end() > cut:
        cut = arrows[-1].end()
    rest = answer[cut:].strip() if cut > 0 else ""
    return rest if rest and "=" not in rest else None


def _prepared_pair(gold: str, answer: str, options: VerifyOptions) -> tuple[Prepared, Prepared]:
    return prepare(gold, options.units), prepare(answer, options.units)


def compare_strings(gold: str, answer: str, options: VerifyOptions, same: Scalar) -> tuple[bool | None, str]:
    """Compare two answer strings (already extracted); returns (verdict or None, reason)."""
    if not gold.strip() or not answer.strip():
        return False, "empty answer"
    if len(answer) > options.max_answer_chars or len(gold) > options.max_answer_chars:
        return False, "answer too long"
    g, p = _prepared_pair(gold, answer, options)
    gold_letter = g.choice or multiple_choice(gold, loose=True)
    letter = p.choice or multiple_choice(answer, loose=True)
    if gold_letter and letter:
        return letter == gold_letter, "multiple choice"
    if gold_letter and choice_value(gold):  # gold "(D) 17" against the value 17
        return compare_strings(choice_value(gold), answer, options, same)
    if letter and not gold_letter and choice_value(answer):  # "(C) 24" against the gold value 24
        return compare_strings(gold, choice_value(answer), options, same)
    if g.words or p.words:
        if g.words and p.words:
            return same_words(g.words, p.words), "text"
        if not g.words:
            return False, "text vs math"
    if g.unit and p.unit and g.unit != p.unit:  # 5 m is not 5 cm; a unit on one side only is dropped
        return False, f"different units ({g.unit} vs {p.unit})"
    if g.text == p.text:
        return True, "same normalised string"
    try:
        gn = parse(g.text, options.max_depth)
    except ParseError as err:
        result = result_side(gold)
        if result is not None:  # "1 = \\zzz = x = 0": the result side of an unreadable chain
            return compare_strings(result, answer, options, same)
        return False, f"gold not parsed: {err}"
    try:
        pn = parse(p.text, options.max_depth)
    except ParseError as err:
        if g.words and p.text.lower() == g.words:
            return True, "text"
        result = result_side(answer)
        if result is not None:  # "5\star 1 = 9(5) + ... = 47": the result, when the chain is unreadable
            return compare_strings(gold, result, options, same)
        return False, f"answer not parsed: {err}"
    if options.factored and _is_product(gn) and not _is_product(pn):
        return False, "not in factored form"
    gn, pn = resolve_approx(gn), resolve_approx(pn)
    if not options.percent:  # a stated percent against a plain gold: its number or its fraction
        gn, pn = drop_percent(gn), drop_percent(pn, keep_whole=True)
    try:
        verdict = compare_nodes(gn, pn, same)
    except TooBig as err:
        return False, f"refused: {err}"
    except (ParseError, RecursionError, ValueError, ZeroDivisionError) as err:
        return False, f"error: {type(err).__name__}: {err}"
    return verdict, "equal" if verdict else "not equal"
