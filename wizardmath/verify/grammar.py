"""A restricted grammar for answers: a Pratt parser over ``tokens.tokenize``'s whitelist into a tiny AST.

Why our own parser rather than ``sympify``/``parse_expr`` or latex2sympy's ANTLR grammar: answers
come from an untrusted model. ``sympify`` and ``parse_expr`` are ``eval`` underneath (they run
``__import__('os')`` happily); the ANTLR parser is safe but recursive, builds sympy objects eagerly
(``10^{10^{10}}`` is evaluated while parsing, which hangs) and takes about a millisecond even for
``18``. This parser accepts only whitelisted tokens, refuses nesting deeper than ``max_depth``
before it can exhaust the stack, and builds plain tuples; the exact evaluator (``numeric``) and the
sympy builder (``symbolic``) then apply their own size bounds.

AST nodes are tuples whose first item names the kind::

    ("num", Fraction, literal) ("sym", name) ("const", "pi"|"E"|"I"|"oo")
    ("add"|"sub"|"mul"|"div"|"pow"|"pm", a, b) ("neg", a) ("fact"|"pct"|"abs"|"floor"|"ceil", a)
    ("func", name, arg) ("log", arg, base|None) ("sqrt", arg, index|None) ("binom", n, k)
    ("rel", op, a, b) ("cup"|"cap", a, b) ("seq", open, close, items) ("matrix", rows) ("text", s)

``seq`` brackets are ``(``/``)``/``[``/``]``, ``{``/``}`` for ``\\{ \\}`` sets and ``''`` for a bare
comma list.
"""

from __future__ import annotations

import re
from fractions import Fraction

from wizardmath.verify.tokens import (  # Node and ParseError re-exported: callers import them from here
    NUMBER,
    OPENERS,
    Node,
    ParseError,
    max_nesting,
    tokenize,
)

__all__ = ["Node", "ParseError", "Parser", "max_nesting", "parse", "tokenize"]

_PRIMARY_START = frozenset(["num", "id", "const", "func", "log", "frac", "sqrt", "binom", "begin"])
_BINARY = {"+": 10, "-": 10, "pm": 10, "*": 20, "/": 20, "^": 30, "cup": 2, "cap": 3}
_IMPLICIT_OPEN = frozenset(["(", "{", "floor", "ceil"])
_RELATIONS = frozenset(["=", "<", ">", "<=", ">=", "!=", "to", "approx"])


class Parser:
    """Pratt parser over the token list; ``depth`` counts nesting so hostile input cannot recurse deep."""

    def __init__(self, tokens: list[tuple[str, str]], max_depth: int = 60):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.max_depth = max_depth

    # -- token helpers -------------------------------------------------------------------------
    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, kind: str, value: str | None = None) -> None:
        tok = self.take()
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise ParseError(f"expected {value or kind}, got {tok[1] or tok[0]}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise ParseError("nesting too deep")

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.parse_list(closers=())
        if self.pos != len(self.tokens):
            raise ParseError(f"unexpected {self.peek()[1] or self.peek()[0]}")
        return node

    def parse_list(self, closers: tuple[str, ...]) -> Node:
        items = [self.parse_relation()]
        while self.peek() == ("op", ","):
            self.take()
            items.append(self.parse_relation())
        return items[0] if len(items) == 1 else ("seq", "", "", tuple(items))

    def parse_relation(self) -> Node:
        left = self.parse_expr(0)
        while self.peek()[0] == "op" and self.peek()[1] in _RELATIONS:
            op = self.take()[1]
            left = ("rel", op, left, self.parse_expr(0))
        return left

    def parse_expr(self, rbp: int) -> Node:
        self.enter()
        left = self.prefix()
        while True:
            kind, value = self.peek()
            if kind == "op" and value in ("!", "%"):
                self.take()
                left = ("fact" if value == "!" else "pct", left)
                continue
            if kind == "op" and value in _BINARY:
                lbp = _BINARY[value]
                if lbp <= rbp:
                    break
                self.take()
                right = self.parse_expr(lbp - 1 if value == "^" else lbp)
                left = (
                    {"+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow"}.get(value, value),
                    left,
                    right,
                )
                continue
            if kind in _PRIMARY_START or (kind == "open" and value in _IMPLICIT_OPEN):
                if rbp >= 20 or (left[0] == "num" and kind == "num"):
                    break
                right = self.parse_expr(20)
                left = ("mul", left, right)
                continue
            break
        self.depth -= 1
        return left

    def prefix(self) -> Node:
        kind, value = self.take()
        if kind == "op" and value in ("-", "+", "pm"):
            operand = self.parse_expr(20)
            if value == "-":
                return ("neg", operand)
            return operand if value == "+" else ("pm", ("num", Fraction(0), "0"), operand)
        if kind == "op" and value == "|":
            inner = self.parse_expr(0)
            self.expect("op", "|")
            return ("abs", inner)
        if kind == "num":
            return self.number(value)
        if kind == "id":
            return self.symbol(value)
        if kind == "const":
            return ("const", value)
        if kind == "text":
            return ("text", " ".join(value.split()).lower())
        if kind in ("func", "log"):
            return self.function(kind, value)
        if kind == "frac":
            return ("div", self.argument(), self.argument())
        if kind == "binom":
            return ("binom", self.argument(), self.argument())
        if kind == "sqrt":
            index = None
            if self.peek() == ("open", "["):
                self.take()
                index = self.parse_expr(0)
                self.expect("close", "]")
            return ("sqrt", self.argument(), index)
        if kind == "begin":
            return self.matrix(value)
        if kind == "open":
            return self.group(value)
        raise ParseError(f"unexpected {value or kind}")

    def number(self, literal: str) -> Node:
        m = NUMBER.fullmatch(literal)
        if m is None:
            raise ParseError(f"bad number {literal!r}")
        mantissa, exponent = m.group(1), m.group(2)
        value = Fraction(mantissa.rstrip(".") or "0")
        if exponent is not None:
            if abs(int(exponent)) > 400:
                raise ParseError("scientific exponent too large")
            value *= Fraction(10) ** int(exponent)
        node: Node = ("num", value, literal)
        if self.peek()[0] == "frac" and exponent is None and "." not in literal:  # mixed number 2\frac{1}{2}
            save = self.pos
            self.take()
            num, den = self.argument(), self.argument()
            if num[0] == "num" and den[0] == "num" and "." not in num[2] + den[2] and den[1] != 0:
                return ("add", node, ("div", num, den))
            self.pos = save
        return node

    def symbol(self, name: str) -> Node:
        if self.peek() == ("op", "_"):
            self.take()
            kind, value = self.take()
            if kind == "open" and value == "{":
                parts = []
                while self.peek()[0] in ("num", "id"):
                    parts.append(self.take()[1])
                self.expect("close", "}")
                value = "".join(parts)
            elif kind not in ("num", "id"):
                raise ParseError("bad subscript")
            return ("sym", f"{name}_{value}")
        return ("sym", name)

    def argument(self) -> Node:
        """One LaTeX macro argument: a ``{group}`` or a single token (``\\frac12`` splits digits)."""
        kind, value = self.peek()
        if kind == "open" and value == "{":
            self.take()
            self.enter()
            node = self.parse_list(closers=("}",))
            self.expect("close", "}")
            self.depth -= 1
            return node
        if kind == "num" and len(value) > 1 and value[0].isdigit():
            self.tokens[self.pos : self.pos + 1] = [("num", value[0]), ("num", value[1:])]
            self.take()
            return ("num", Fraction(value[0]), value[0])
        return self.prefix()

    def function(self, kind: str, name: str) -> Node:
        power = base = None
        for _ in range(2):
            if self.peek() == ("op", "^"):
                self.take()
                power = self.argument()
            elif self.peek() == ("op", "_") and kind == "log":
                self.take()
                base = self.argument()
        if self.peek() == ("open", "("):
            arg = self.prefix()
        else:
            arg = self.parse_expr(25)
        if kind == "log":
            node: Node = ("log", arg, base if name == "log" else ("const", "E"))
            if name == "log" and base is None:
                node = ("log", arg, None)
        else:
            node = ("func", name, arg)
        return ("pow", node, power) if power is not None else node

    def group(self, opener: str) -> Node:
        """``( )``, ``[ ]``, mixed interval brackets, ``{ }`` groups, ``\\{ \\}`` sets, floor and ceil."""
        self.enter()
        if opener in ("floor", "ceil"):
            inner = self.parse_expr(0)
            self.expect("close", opener)
            self.depth -= 1
            return (opener, inner)
        if opener == "set" and self.peek() == ("close", "set"):
            self.take()
            self.depth -= 1
            return ("seq", "{", "}", ())
        inner = self.parse_list(closers=(")", "]", "}", "set"))
        kind, closer = self.take()
        want = {"{": ("}",), "set": ("set",)}.get(opener, (")", "]"))
        if kind != "close" or closer not in want:
            raise ParseError("unbalanced brackets")
        self.depth -= 1
        items = inner[3] if inner[0] == "seq" and inner[1] == "" else (inner,)
        if opener == "set":
            return ("seq", "{", "}", items)
        if opener == "{" or (len(items) == 1 and OPENERS.get(opener) == closer):
            return inner
        return ("seq", opener, closer, items)

    def matrix(self, env: str) -> Node:
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        self.enter()
        while True:
            kind, value = self.peek()
            if kind == "end":
                self.take()
                break
            if kind == "eof":
                raise ParseError("unterminated matrix")
            row.append(self.parse_relation())
            kind, value = self.take()
            if (kind, value) == ("op", "&"):
                continue
            if (kind, value) == ("op", "row"):
                rows.append(tuple(row))
                row = []
                continue
            if kind == "end":
                break
            raise ParseError(f"unexpected {value} in matrix")
        if row:
            rows.append(tuple(row))
        self.depth -= 1
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return ("matrix", tuple(rows))


_SET_OPEN = re.compile(r"\\\{")
_SET_CLOSE = re.compile(r"\\\}")


def parse(text: str, max_depth: int = 60) -> Node:
    """Parse a normalised answer into an AST; raise ``ParseError`` when it is not in the grammar."""
    if max_nesting(text) > max_depth:
        raise ParseError("nesting too deep")
    # Set braces \{ \} become the private brackets 〔 〕 so the parser can tell them from groups.
    text = _SET_CLOSE.sub(" 〕", _SET_OPEN.sub("〔 ", text))
    tokens = []
    for chunk in re.split(r"(〔|〕)", text):
        if chunk == "〔":
            tokens.append(("open", "set"))
        elif chunk == "〕":
            tokens.append(("close", "set"))
        elif chunk:
            tokens.extend(tokenize(chunk))
    return Parser(tokens, max_depth).parse()
