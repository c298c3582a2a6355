"""Turn an extracted answer into the canonical string the parser reads, plus what was peeled off.

Everything here is plain string work (regexes without nested quantifiers, so no catastrophic
backtracking): LaTeX spacing and ``\\left``/``\\right`` go, ``\\dfrac``/``\\tfrac`` become ``\\frac``,
unicode math becomes LaTeX, degrees and currency are dropped, a trailing unit (``\\text{ cm}``,
``15 square feet``) is split off and recorded, ``1,234,567`` loses its separators, and base
subscripts (``52_8``) are dropped. Multiple-choice letters and plain-text answers are recognised
here so the comparison can treat them as labels, not algebra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from wizardmath.verify.tokens import NAMED_FUNCTIONS

_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lr]?|middle)(?![a-zA-Z])\s*\.?")
_SPACING = re.compile(
    r"\\[,;:!>]|\\(?:displaystyle|textstyle|limits|nolimits)(?![a-zA-Z])|\\hspace\*?\{[^{}]*\}"
    r"|\\q?quad"  # also "\quadx_2": no other command starts with "quad"
)
_LATEX_THOUSANDS = re.compile(r"(?<=\d)\s?(?:,\\!|\{,\s?\})\s?(?=\d{3}(?!\d))")  # 11,\! 111 and 14 {, }916
# A string escaped twice (JSON written into a raw string): every command has two backslashes.
_DOUBLED_COMMAND = re.compile(r"\\\\(?=[a-zA-Z])")
_SINGLE_COMMAND = re.compile(r"(?<!\\)\\[a-zA-Z]")
_EMPTY_ITEM = re.compile(r",\s*(?=,)")
_CONTROL_SPACE = re.compile(r"(?<!\\)\\ ")
_UNICODE = {
    "−": "-",
    "–": "-",
    "×": "\\times ",
    "÷": "\\div ",
    "·": "\\cdot ",
    "⋅": "\\cdot ",
    "√": "\\sqrt ",
    "⁄": "/",
    "π": "\\pi ",
    "∞": "\\infty ",
    "≤": "\\le ",
    "≥": "\\ge ",
    "≠": "\\ne ",
    "∪": "\\cup ",
    "∩": "\\cap ",
    "∈": "\\in ",
    "≈": "\\approx ",
    "±": "\\pm ",
    "°": "^\\circ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u200b": "",
}
_ROOT_NUMBER = re.compile(r"√\s?(\d+(?:\.\d+)?)")
_DEGREE_SCALE = re.compile(r"°\s?[CF]\b|℃|℉")
_SUPERSCRIPT = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
           "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8),
           "⅞": (7, 8)}  # fmt: skip
_VULGAR_NUMBER = re.compile(r"(?<![\d.])(?:(\d{1,9})\s?)?([" + "".join(_VULGAR) + "])")
_RENAMES = [
    (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), "\\frac"),
    (re.compile(r"\\(?:mathbb|Bbb)\s*\{?\s*R\s*\}?(?![a-zA-Z])"), "(-\\infty, \\infty)"),
    (re.compile(r"\\[dt]binom(?![a-zA-Z])"), "\\binom"),
    (re.compile(r"\\(?:le|leqslant)(?![a-zA-Z])"), "\\leq"),
    (re.compile(r"\\(?:ge|geqslant)(?![a-zA-Z])"), "\\geq"),
    (re.compile(r"\\(?:ne)(?![a-zA-Z])"), "\\neq"),
    (re.compile(r"\\operatorname\s*\{\s*([a-zA-Z]+)\s*\}"), r"\\\1"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\(?:angle|measuredangle|triangle)(?![a-zA-Z])"), ""),
    (re.compile(r"\\bold(?![a-zA-Z])"), "\\mathbf"),
    (re.compile(r"\\varnothing|\\emptyset"), "\\{\\}"),
    (
        re.compile(r"\\(?:mathbf|mathbb|boldsymbol|bm|mathit|mathrm|textit|emph)\s*\{\s*([^{}\\]{1,2})\s*\}"),
        r"\1",
    ),
]
_DEGREES = re.compile(
    r"\^\s*\{?\s*\\circ\s*\}?|\\degree(?![a-zA-Z])|\\text\{\s*degrees?\s*\}|(?<=[\d}\s])degrees?$"
)
_CURRENCY = re.compile(r"\\\$|\$|\\text\{\s*\\?\$\s*\}|€|£|¥|(?i:\s*\b(?:dollars?|usd|cents?|euros?)\b\.?)")
_PERCENT_WORD = re.compile(r"\s*(?:\\text\{\s*(?:percent|pct)\s*\}|\b(?:percent(?:age)?|pct)\b)\s*$")
_TEXT_BLOCK = re.compile(r"\\(?:text|textbf|textrm|mbox|mathrm|textnormal)\s*\{([^{}]*)\}")
_UNIT_TAIL = re.compile(
    r"(?P<head>.*?[\d})\]a-zA-Z.])\s*"
    r"(?P<unit>\\(?:text|textbf|textnormal|mbox|textrm|mathrm)\s*\{\s*[a-zA-Z][a-zA-Z .\-]*\}"
    r"|(?<=[\d} ])\s*[a-zA-Z]{2,}(?:\s+[a-zA-Z]{2,}){0,2})"
    r"\s*(?P<power>\^\s*\{?\s*[23]\s*\}?)?\s*$"
)
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_RESULT_THOUSANDS = re.compile(r"(?<==)\s*-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_ELLIPSIS = re.compile(r"(\d*)\.(\d{2,30})\s*(?:\\[lc]?dots|\.\.\.|…)")
_INFINITY_WORD = re.compile(r"^(?:(?P<neg>-|negative|minus)\s*)?(?:\\text\{\s*)?infinity(?:\s*\})?$", re.I)
_ALL_REALS = re.compile(r"^(?:\\text\{\s*)?all real(?: numbers)?(?:\s*\})?$", re.I)
_BASE = re.compile(r"(\d+)_\{?(\d{1,2})\}?")
_REPEATING = re.compile(r"(\d*)\.(\d{0,20})\\overline\s*\{\s*(\d{1,20})\s*\}")
_MIXED = re.compile(r"^(-?)(\d+)\s+(\d+)/(\d+)$")
_IN_PREFIX = re.compile(r"^[a-zA-Z]\s*\\in\s*")
_JOINERS = re.compile(
    r"\\text\{\s*(?:or|and)\s*\}|\s+(?:or|and)\s+|\\(?:quad|qquad)\s*(?:\\text\{\s*(?:or|and)\s*\})?"
    r"|(?<=[)\]])\s*(?:or|and)\s*(?=[(\[])"  # "(11,7)or(7,11)"
)
_MC = re.compile(r"^\(?\s*([A-E])\s*\)?[.:]?$")
_MC_LOOSE = re.compile(
    r"^(?:\\(?:text(?:bf|rm)?|math(?:rm|bf))\{)?\s*\(([A-E])\)|^([A-E])[.):](?:\s|$)"
    r"|^(?:option|choice)\s+\(?([A-E])\)?\b",
    re.I,
)
_CHOICE_PREFIX = re.compile(
    r"(?:\\(?:text(?:bf|rm)?|math(?:rm|bf))\{\s*\([A-E]\)\s*\}|\([A-E]\)|[A-E][.:)]|(?:option|choice)\s+\(?[A-E]\)?)"
    r"(?:\s|~|\\[ ,;:!]|\\q?quad)*(?=\S)"
)
_MC_OTHERS = re.compile(r"\(([A-Ea-e])\)|\b(?:option|choice)\s+\(?([A-E])\b|\b(?:and|or)\s+([A-E])\b", re.I)
_FUNCTION_WORDS = NAMED_FUNCTIONS | {"log", "ln", "sqrt", "pi", "inf", "infty", "mod"}
_TEXTY = re.compile(r"^[A-Za-z][A-Za-z' \-]*[A-Za-z]$")
_SHORT_UNITS = frozenset(
    "mm cm km ft yd mi mg kg lb lbs oz ml cc sec min hr hrs mph kmh kph am pm in th st nd rd".split()
)
_VOWEL = re.compile("[aeiouy]")
_SET_BUILDER = re.compile(r"^\\\{\s*[a-zA-Z]\s*(?:\\mid|\||:)\s*([^{}]+?)\s*\\\}$")
_NAMED_VALUE = re.compile(r"\s*[a-zA-Z](?:_\{?\w{1,3}\}?)?\s*=\s*([^=,;]+)")
_METRIC_POWER = re.compile(r"^(-?[\d,]*\.?\d+)\s?(m|cm|mm|km|ft|in)\s*\^\s*\{?([23])\}?$")
_UNIT_SYNONYMS = {"inch": "in", "inches": "in", "feet": "ft", "foot": "ft", "meters": "m", "meter": "m"}


def _number_words() -> dict[str, int]:
    ones = (
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
    tens = "twenty thirty forty fifty sixty seventy eighty ninety".split()
    words = {w: i for i, w in enumerate(ones)}
    for t, ten in enumerate(tens, start=2):
        words[ten] = 10 * t
        for o in range(1, 10):
            words[f"{ten}-{ones[o]}"] = words[f"{ten} {ones[o]}"] = 10 * t + o
    words.update(
        {"one hundred": 100, "a hundred": 100, "hundred": 100, "one thousand": 1000, "thousand": 1000}
    )
    return words


NUMBER_WORDS = _number_words()


@dataclass(frozen=True)
class Prepared:
    """A normalised answer: ``text`` for the parser, and the unit / label facts peeled off it."""

    text: str
    unit: str = ""
    choice: str = ""
    words: str = ""


def undouble_escapes(s: str) -> str:
    """``\\\\frac{1}{2}`` -> ``\\frac{1}{2}`` when *every* command of ``s`` has two backslashes (text
    escaped twice); a real row break before a letter (``1 \\\\ x``) beside normal commands stays."""
    if "\\\\" not in s or _SINGLE_COMMAND.search(s) or not _DOUBLED_COMMAND.search(s):
        return s
    return _DOUBLED_COMMAND.sub(r"\\", s)


def _vulgar(match: re.Match[str]) -> str:
    """``2½`` -> ``5/2``, ``¾`` -> ``3/4``: one fraction, so prose number search reads it whole."""
    num, den = _VULGAR[match.group(2)]
    whole = int(match.group(1) or 0)
    return f"{whole * den + num}/{den}"


def unicode_math(s: str) -> str:
    """Unicode math as plain text and LaTeX: ``x²`` -> ``x^{2}``, ``2½`` -> ``5/2``, ``−4`` -> ``-4``,
    ``12π`` -> ``12\\pi``, ``√2`` -> ``\\sqrt 2``, ``≤`` -> ``\\le``; any other text is unchanged."""
    if s.isascii():
        return s
    s = _SUPERSCRIPT.sub(lambda m: "^{" + m.group(0).translate(_SUPERSCRIPT_DIGITS) + "}", s)
    s = _VULGAR_NUMBER.sub(_vulgar, s)
    s = _DEGREE_SCALE.sub("°", s)  # 30°F, 12 ℃: degrees, whose scale is dropped as degrees are
    s = _ROOT_NUMBER.sub(r"\\sqrt{\1}", s)  # √13 is the root of 13 (\\sqrt 13 would be √1·3)
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    return s


def clean_latex(s: str) -> str:
    """Spacing, sizing, unicode and synonyms: changes that never alter an answer's meaning."""
    s = undouble_escapes(s)
    s = _LATEX_THOUSANDS.sub("", s)  # 10,\\!000 and 1{,}000 even inside an expression
    s = unicode_math(s)
    s = _SIZING.sub("", s)
    s = _SPACING.sub("", s)
    s = _CONTROL_SPACE.sub(" ", s).replace("~", " ")
    for pattern, repl in _RENAMES:
        s = pattern.sub(repl if "\\1" in repl else (lambda _m, r=repl: r), s)
    return " ".join(s.split())


def _unit_key(unit: str) -> str:
    inner = _TEXT_BLOCK.sub(r"\1", unit).strip().lower().rstrip(".")
    inner = " ".join(inner.split())
    inner = _UNIT_SYNONYMS.get(inner, inner)
    return inner[:-1] if inner.endswith("s") and len(inner) > 3 else inner


def split_unit(s: str) -> tuple[str, str]:
    """``("15", "cm^2")`` from ``15\\mbox{ cm}^2``; the unit is empty when there is none."""
    metric = _METRIC_POWER.match(s)
    if metric:  # "1,000.99m²": square metres, not 1000.99 m m
        return metric.group(1), f"{metric.group(2)}^{metric.group(3)}"
    match = _UNIT_TAIL.match(s)
    if not match:
        return s, ""
    unit = match.group("unit")
    bare_word = not unit.startswith("\\")
    word = unit.strip().split()[0].lower() if bare_word else ""
    if bare_word and (word in _FUNCTION_WORDS or word in ("or", "and")):
        return s, ""
    head = match.group("head").strip()
    if bare_word and not re.search(r"\d", head):  # "x cm" is not a quantity; "ab" is algebra
        return s, ""
    spaced = s[match.start("unit") - 1 : match.start("unit")].isspace()
    if bare_word and word not in _SHORT_UNITS and (not spaced or len(word) < 3 or not _VOWEL.search(word)):
        return s, ""  # "6xyz", "2\\pi rh": letters after a number are factors, unless a unit or a word
    power = re.sub(r"\D", "", match.group("power")) if match.group("power") else ""
    base = _unit_key(unit)
    square = re.match(r"(square|sq|cubic|cu)\.?\s+(.+)$", _TEXT_BLOCK.sub(r"\1", unit).strip().lower())
    if square:  # "square inches" is in^2
        base, power = _unit_key(square.group(2)), "2" if square.group(1).startswith("s") else "3"
    key = base + ("^" + power if power else "")
    return head, key


def multiple_choice(s: str, loose: bool = False) -> str:
    """The option letter of ``(B)``, ``\\text{(B)}``, ``B`` (and with ``loose``, ``(B) 12``), or ''."""
    inner = _TEXT_BLOCK.sub(r"\1", s).strip()
    match = _MC.match(inner)
    if match:
        return match.group(1)
    if loose:
        match = _MC_LOOSE.match(s.strip())
        if match:
            letter = next(g for g in match.groups() if g).upper()
            others = {g.upper() for groups in _MC_OTHERS.findall(s) for g in groups if g} - {letter}
            return "" if others else letter  # "(C) and (D)" names two options, not C
    return ""


def choice_value(s: str) -> str:
    """The value after an option letter: ``17`` of ``\\textbf{(D)}\\ 17`` and of ``(D) 17``, else ''."""
    match = _CHOICE_PREFIX.match(s.strip())
    return s.strip()[match.end() :].strip() if match else ""


def text_words(s: str) -> str:
    """Lower-cased words when ``s`` is a plain-text answer (``\\text{Devon}``, ``even``), else ''."""
    inner = _TEXT_BLOCK.sub(r"\1", s).strip().rstrip(".")
    if not _TEXTY.match(inner):
        return ""
    words = inner.lower().split()
    if (max(len(w) for w in words) < 3 and words != ["no"]) or any(not w[0].isalpha() for w in words):
        return ""
    if len(words) == 1 and words[0] in _FUNCTION_WORDS:
        return ""
    return " ".join(words)


def _ellipsis(match: re.Match[str]) -> str:
    """``0.1666\\ldots`` -> ``0.1\\overline{6}``: the shortest cycle the digits repeat at least twice
    (three times for one digit) up to the ellipsis; no such cycle leaves the decimal as written."""
    whole, digits = match.group(1), match.group(2)
    for period in range(1, len(digits) // 2 + 1):
        cycle = digits[-period:]
        reps = 1
        while digits[: len(digits) - reps * period].endswith(cycle):
            reps += 1
        if reps >= (3 if period == 1 else 2):
            fixed = digits[: len(digits) - reps * period]
            return f"{whole}.{fixed}\\overline{{{cycle}}}"
    return f"{whole}.{digits}"


def _repeating(match: re.Match[str]) -> str:
    """``0.1\\overline{6}`` -> ``(1/6)``: a repeating decimal is an exact fraction."""
    whole, fixed, cycle = match.group(1) or "0", match.group(2), match.group(3)
    shift, period = 10 ** len(fixed), 10 ** len(cycle) - 1
    value = Fraction(int(whole)) + Fraction(int(fixed or "0"), shift) + Fraction(int(cycle), shift * period)
    return f"({value.numerator}/{value.denominator})"


def _named_groups(s: str) -> str:
    """``p=5,q=2;p=7,q=2`` -> ``(5, 2), (7, 2)``: solutions separated by ";", each a list of named
    values, are the tuples of those values (as the same answer written ``(5,2),(7,2)``)."""
    groups = s.split(";")
    if len(groups) < 2 or len(groups) > 32:
        return s
    tuples = []
    for group in groups:
        values = [_NAMED_VALUE.fullmatch(item) for item in group.split(",")]
        if len(values) < 2 or not all(values):
            return s
        tuples.append("(" + ", ".join(v.group(1).strip() for v in values) + ")")
    return ", ".join(tuples)


def prepare(answer: str, units: bool = True) -> Prepared:
    """Normalise one answer string (see the module docstring)."""
    s = clean_latex(answer.translate(_FULL_WIDTH))
    s = _ELLIPSIS.sub(_ellipsis, s)
    s = _REPEATING.sub(_repeating, s)
    plain = _TEXT_BLOCK.sub(r"\1", s).strip().rstrip(".").strip().lower()
    infinity = _INFINITY_WORD.match(plain)
    if infinity:
        s = "-\\infty" if infinity.group("neg") else "\\infty"
    elif _ALL_REALS.match(plain):
        s = "(-\\infty, \\infty)"
    elif plain in NUMBER_WORDS:
        s = str(NUMBER_WORDS[plain])
    choice = multiple_choice(s)
    words = text_words(s)
    s = _SET_BUILDER.sub(r"\1", s)  # {x | x > 2} is the condition's set: x > 2
    s = _IN_PREFIX.sub("", _named_groups(s) if ";" in s else s)
    s = _DEGREES.sub("", s).strip()
    s = _CURRENCY.sub("", s).strip()
    if _PERCENT_WORD.search(s):
        s = _PERCENT_WORD.sub("", s) + "%"
    s = s.replace("\\%", "%")
    unit = ""
    if units and not words:
        s, unit = split_unit(s)
    s = _JOINERS.sub(", ", s)
    s = _EMPTY_ITEM.sub("", s)  # "19, 46, and 82" joined: one comma, not an empty item
    s = _TEXT_BLOCK.sub(lambda m: m.group(1) if not re.search(r"[a-zA-Z]{2,}", m.group(1)) else m.group(0), s)
    s = s.strip().rstrip(".").strip()
    if _THOUSANDS.fullmatch(s) or _THOUSANDS.fullmatch(s.rstrip("%")):
        s = s.replace(",", "").replace(" ", "")
    elif "=" in s:  # "26 \\times 25 \\times 90 = 58,500": the result of a chain, not a list
        s = _RESULT_THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), s)
    s = _BASE.sub(r"\1", s)
    s = _MIXED.sub(r"\1(\2+\3/\4)", s)
    return Prepared(text=" ".join(s.split()), unit=unit, choice=choice, words=words)
