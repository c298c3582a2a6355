"""The answer tokenizer: a whitelist of commands, functions and symbols, read into ``(kind, value)`` tokens.

Split from ``grammar`` (the Pratt parser) so each module stays small: this one knows which LaTeX and
plain-text spellings are math at all and refuses the rest, ``grammar`` knows how tokens combine into an
AST. ``Node`` and ``ParseError`` live here because both halves raise and build them; ``grammar``
re-exports them.
"""

from __future__ import annotations

import re

Node = tuple


class ParseError(ValueError):
    """The answer is not in the grammar (or is too large or deep to parse safely)."""


# Named functions every reader of an answer knows (the grammar, normalisation and prose detection).
NAMED_FUNCTIONS = frozenset(
    [
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "arcsin",
        "arccos",
        "arctan",
        "sinh",
        "cosh",
        "tanh",
        "exp",
        "det",
        "gcd",
        "lcm",
        "max",
        "min",
    ]
)
FUNCTIONS = NAMED_FUNCTIONS | {"sgn"}  # the grammar also reads the sign function
GREEK = frozenset(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "varepsilon",
        "zeta",
        "eta",
        "theta",
        "vartheta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "rho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "varphi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Xi",
        "Sigma",
        "Phi",
        "Psi",
        "Omega",
    ]
)
_PLAIN_WORDS = {
    "sqrt": ("sqrt", None),
    "pi": ("const", "pi"),
    "infty": ("const", "oo"),
    "inf": ("const", "oo"),
    "ln": ("log", "ln"),
    "log": ("log", "log"),
}
_COMMANDS = {
    "frac": ("frac", None),
    "sqrt": ("sqrt", None),
    "binom": ("binom", None),
    "pi": ("const", "pi"),
    "infty": ("const", "oo"),
    "infinity": ("const", "oo"),
    "cdot": ("op", "*"),
    "times": ("op", "*"),
    "ast": ("op", "*"),
    "div": ("op", "/"),
    "pm": ("op", "pm"),
    "mp": ("op", "pm"),
    "leq": ("op", "<="),
    "geq": ("op", ">="),
    "neq": ("op", "!="),
    "lt": ("op", "<"),
    "gt": ("op", ">"),
    "cup": ("op", "cup"),
    "cap": ("op", "cap"),
    "lfloor": ("open", "floor"),
    "rfloor": ("close", "floor"),
    "lceil": ("open", "ceil"),
    "rceil": ("close", "ceil"),
    "langle": ("open", "("),
    "rangle": ("close", ")"),
    "{": ("open", "{"),
    "}": ("close", "}"),
    "|": ("op", "|"),
    "vert": ("op", "|"),
    "lvert": ("op", "|"),
    "rvert": ("op", "|"),
    "%": ("op", "%"),
    "ln": ("log", "ln"),
    "log": ("log", "log"),
    "lg": ("log", "log"),
    "exp": ("func", "exp"),
    "approx": ("op", "approx"),
    "to": ("op", "to"),
}
_TEXT_COMMANDS = frozenset(
    ["text", "textbf", "textrm", "mbox", "mathrm", "textnormal", "mathbf", "mathit", "mathsf"]
)
NUMBER = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)(?![a-zA-Z]))?")
_COMMAND = re.compile(r"\\([a-zA-Z]+|.)")
_LETTERS = re.compile(r"[a-zA-Z]+")
_SINGLE = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "^": "^",
    "_": "_",
    "!": "!",
    "%": "%",
    "=": "=",
    ":": "/",  # a ratio 7:32 is the quotient 7/32 (and "A:B = 1" states it)
    "<": "<",
    ">": ">",
    ",": ",",
    ";": ",",
    "&": "&",
    "|": "|",
}
_PAIRS = {"**": "^", "<=": "<=", ">=": ">=", "!=": "!=", "==": "="}
_DIGITS = frozenset("0123456789")
OPENERS = {"(": ")", "[": "]", "{": "}"}
MATRIX_ENVS = frozenset(["pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "smallmatrix", "array"])


def _brace_group(text: str, i: int) -> tuple[str, int]:
    """The raw text of the ``{...}`` at ``i`` (no nested braces needed in text) and the index after it."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        raise ParseError("expected '{'")
    depth, j = 0, i
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
        j += 1
    raise ParseError("unbalanced braces")


def _word_tokens(word: str) -> list[tuple[str, str]]:
    """Tokens of a run of letters: known function words, else one symbol per letter (``xy`` = x*y).
    A run of four or more letters other than a function name (plus one variable, ``sinx``) is a
    word, not algebra: ``costs`` must not read as ``cos(t) s``."""
    names = FUNCTIONS | _PLAIN_WORDS.keys()
    if len(word) >= 4 and word not in names and word[:-1] not in names:
        raise ParseError(f"word {word[:20]!r} is not math")
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(word):
        for name in sorted(FUNCTIONS | _PLAIN_WORDS.keys(), key=len, reverse=True):
            if word.startswith(name, i) and (len(name) > 2 or word == name):
                out.append(_PLAIN_WORDS.get(name, ("func", name)))
                i += len(name)
                break
        else:
            out.append(("id", word[i]))
            i += 1
    return out


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ``(kind, value)`` tokens; anything off the whitelist raises ``ParseError``."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\n":
            i += 1
            continue
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = NUMBER.match(text, i)
            tokens.append(("num", m.group(0)))
            i = m.end()
        elif ch == "\\":
            m = _COMMAND.match(text, i)
            if not m:
                raise ParseError("dangling backslash")
            name, i = m.group(1), m.end()
            if name in _TEXT_COMMANDS:
                content, i = _brace_group(text, i)
                tokens.append(("text", content))
            elif name in ("begin", "end"):
                env, i = _brace_group(text, i)
                if env.strip() not in MATRIX_ENVS:
                    raise ParseError(f"unsupported environment {env!r}")
                if name == "begin" and env.strip() == "array" and text[i : i + 1] == "{":
                    _, i = _brace_group(text, i)
                tokens.append((name, env.strip()))
            elif name == "\\":
                tokens.append(("op", "row"))
            elif name in _COMMANDS:
                tokens.append(_COMMANDS[name])
            elif name in FUNCTIONS or name in ("arcsec", "arccsc", "arccot"):
                tokens.append(("func", name))
            elif name in GREEK:
                tokens.append(("id", name))
            elif name in ("left", "right", "displaystyle", "limits"):
                continue
            else:
                raise ParseError(f"unsupported command \\{name}")
        elif ch.isalpha() and ch.isascii():
            m = _LETTERS.match(text, i)
            tokens.extend(_word_tokens(m.group(0)))
            i = m.end()
        elif text[i : i + 2] == "!=" and tokens and tokens[-1][0] in ("num", "close"):
            tokens.append(("op", "!"))  # "7! \\times 2!=10080": a factorial, then "="
            i += 1
        elif text[i : i + 2] in _PAIRS:
            tokens.append(("op", _PAIRS[text[i : i + 2]]))
            i += 2
        elif ch in _SINGLE:
            tokens.append(("op", _SINGLE[ch]))
            i += 1
        elif ch in "([{":
            tokens.append(("open", ch))
            i += 1
        elif ch in ")]}":
            tokens.append(("close", ch))
            i += 1
        else:
            raise ParseError(f"unexpected character {ch!r}")
    return tokens


def max_nesting(text: str) -> int:
    """Deepest bracket nesting in ``text`` (one linear pass; used to refuse hostile input early)."""
    depth = best = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    return best
