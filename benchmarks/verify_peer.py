"""The peer grader's own test tables (Math-Verify's ``tests/`` folder, read from a local copy outside this
repository, never copied in) run against ``wizardmath.verify``: agreement, deliberate differences and
excluded API tests. Section (f) of ``benchmarks/verify_bench.py``; also run on its own:

    MATH_VERIFY_TESTS=/path/to/math-verify/tests .venv/bin/python benchmarks/verify_bench.py --only peer
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wizardmath.verify import VerifyOptions, check, extract_answer  # noqa: E402

# -- (f) the peer grader's own test tables ----------------------------------------------------------
PEER_ENV = "MATH_VERIFY_TESTS"
PEER_HELPER_DEFAULTS = {"match_types": ("latex", "expr"), "precision": 6, "strict": True, "allow_set": False}
"""The keyword defaults of the helper the peer's tables call (its ``compare_strings``), which a row
or a call may override."""


@dataclass(frozen=True)
class PeerCase:
    """One row of a parametrized peer test: the pair, the label and the options the test passes."""

    file: str
    test: str
    gold: str
    pred: str
    expected: bool
    precision: int | None  # None: the helper's default rounding, which exact decimals replace
    strict: bool
    allow_set: bool
    match_types: tuple[str, ...] | None = None  # None: the test calls parse() with its defaults

    @property
    def key(self) -> str:
        """A stable id that names the row without copying it: test name and a digest of the pair."""
        digest = hashlib.sha1(f"{self.gold}\x00{self.pred}".encode()).hexdigest()[:10]
        return f"{self.test}:{digest}"


# Rows whose verdict differs on purpose (b), by ``PeerCase.key``; each reason is a row of the docs table.
_DECIMAL_COMMA = "a comma between digits is a thousands or list separator, never a decimal comma"
_INLINE_LINES = "inline math broken over lines is still read (a human reads it)"
PEER_DELIBERATE: dict[str, str] = {
    "test_number_extraction:456c4c539e": _DECIMAL_COMMA,
    "test_number_extraction:0a229460ee": _DECIMAL_COMMA,
    "test_number_extraction:c79bae915f": _DECIMAL_COMMA,
    "test_number_extraction:8bd410de8e": _DECIMAL_COMMA,
    "test_latex_notation:a8cf45cf20": _INLINE_LINES,
    "test_latex_notation:fb3a092cb0": _INLINE_LINES,
    "test_complex_math_expressions:84c32591b1": "exact decimals by default: a 16-digit decimal is not 1/12",
    "test_set_rel_assymetry:838aaf3191": "an interval and its inequality are equal in either direction",
    "test_strict_variable_comparison:1253e76f83": "variable names matter: f(x) is not f(y)",
    "test_string_extraction:75916a1838": "unevaluated sums are outside the grammar, never equal",
    "test_string_extraction:18be4a7da4": "e is Euler's number: 1 - 1/e and 1 + 1/e differ",
}
# Whole peer tests that exercise the peer's own API, not grading (c): excluded and counted.
PEER_API_TESTS = {
    "test_string_extraction.py:test_string_extraction": "parse() output lists of a string-extraction config",
    "test_configs.py:test_boxed_match_priority": "extraction-priority knobs of parse()",
    "test_configs.py:test_normalization_config": "normalisation knobs of parse()",
    "test_timeout.py:test_timeout_expr": "mocks the peer's parser to test its timeout",
    "test_timeout.py:test_timeout_latex": "mocks the peer's parser to test its timeout",
    "test_timeout.py:test_timeout_verify": "mocks the peer's comparer to test its timeout",
    "test_raise_on_error.py:test_verify_raise_on_error": "mocks the peer's comparer to test raise_on_error",
    "test_all.py:test_precision": "calls the peer's sympy_expr_eq on sympy objects",
}


def _call_options(function: ast.FunctionDef) -> dict[str, ast.expr]:
    """The keyword arguments of the grading call inside a test body (``compare_strings(...)``)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
            return {kw.arg: kw.value for kw in node.keywords if kw.arg}
    return {}


def _option(value: ast.expr | None, row: dict, default: object) -> object:
    if value is None:
        return default
    if isinstance(value, ast.Name):  # a column of the table
        return row.get(value.id, default)
    try:
        return ast.literal_eval(value)
    except ValueError:
        return default


def load_peer_cases(folder: Path) -> tuple[list[PeerCase], dict[str, int], dict[str, str]]:
    """The peer's parametrized rows, read with ``ast`` (its files are never imported or run).

    Returns the grader cases, the count of rows excluded per reason, and the non-parametrized tests
    (reason by ``file:test``)."""
    cases: list[PeerCase] = []
    excluded: dict[str, int] = {}
    plain_tests: dict[str, str] = {}
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            name = f"{path.name}:{function.name}"
            table = next(
                (
                    d
                    for d in function.decorator_list
                    if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize"
                ),
                None,
            )
            if table is None:
                if function.name.startswith("test"):
                    plain_tests[name] = PEER_API_TESTS.get(name, "not a parametrized grader table")
                continue
            columns = [c.strip() for c in ast.literal_eval(table.args[0]).split(",")]
            if name in PEER_API_TESTS:
                reason = f"(c) {PEER_API_TESTS[name]}"
                excluded[reason] = excluded.get(reason, 0) + len(table.args[1].elts)
                continue
            call = _call_options(function)
            for element in table.args[1].elts:
                try:
                    row = dict(zip(columns, ast.literal_eval(element), strict=True))
                except ValueError:  # e.g. an f-string computed at import time
                    reason = "(c) row computed in Python, not a literal table row"
                    excluded[reason] = excluded.get(reason, 0) + 1
                    continue
                precision = _option(call.get("precision"), row, None)
                cases.append(
                    PeerCase(
                        file=path.name,
                        test=function.name,
                        gold=row["gold"],
                        pred=row["pred"],
                        expected=bool(row.get("expected", row.get("result"))),
                        precision=None if precision == PEER_HELPER_DEFAULTS["precision"] else precision,
                        strict=bool(_option(call.get("strict"), row, True)),
                        allow_set=bool(_option(call.get("allow_set_relation_comp"), row, False)),
                        match_types=tuple(
                            _option(call.get("match_types"), row, PEER_HELPER_DEFAULTS["match_types"])
                        )
                        if call
                        else None,
                    )
                )
    return cases, excluded, plain_tests


def ours_on_peer(case: PeerCase) -> bool:
    """Our verdict on a peer row, mapped as faithfully as our API allows: both sides go through our
    extraction (the peer parses gold and prediction alike), an explicit rounding precision ``p``
    becomes ``rel_tol = 10**-p``, the default rounding stays exact decimals."""
    options = VerifyOptions(rel_tol=10.0**-case.precision if case.precision else 0.0)
    gold = extract_answer(case.gold, options) or case.gold
    return check(gold, case.pred, options).equal


def math_verify_on_peer(cases: list[PeerCase]) -> int | None:
    """How many rows the installed math-verify itself gets right, called as each test calls it (a
    check of the mapping and of the installed version against the tables); None when not installed."""
    try:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    except ImportError:
        return None
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    agree = 0
    for case in cases:
        configs = None
        if case.match_types is not None:
            configs = [
                LatexExtractionConfig(boxed_match_priority=0) if kind == "latex" else ExprExtractionConfig()
                for kind in case.match_types
            ]
        try:
            gold = parse(case.gold, configs) if configs else parse(case.gold)
            pred = parse(case.pred, configs) if configs else parse(case.pred)
            said = verify(
                gold,
                pred,
                float_rounding=case.precision or PEER_HELPER_DEFAULTS["precision"],
                strict=case.strict,
                allow_set_relation_comp=case.allow_set,
            )
        except Exception:  # noqa: BLE001 - the peer failing on its own row is a disagreement
            said = False
        agree += bool(said) == case.expected
    return agree


def peer_folder(explicit: str | None) -> tuple[Path | None, str]:
    """Where the peer's ``tests/`` folder is, or None and why not."""
    candidates = [explicit or os.environ.get(PEER_ENV)]
    spec = importlib.util.find_spec("math_verify")
    if spec is not None and spec.origin:  # a source checkout installed in place keeps its tests
        candidates.append(str(Path(spec.origin).resolve().parents[2] / "tests"))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "test_all.py").is_file():
            return Path(candidate), ""
    return None, (
        f"skipped: the peer's tests/ folder was not found (set {PEER_ENV}=/path/to/Math-Verify/tests "
        "or pass --peer-tests; the pip package ships without it)"
    )


def peer_agreement(cases: list[PeerCase]) -> dict:
    """Counts per class: agree, (b) deliberate differences, and disagreements left (bugs)."""
    agree, deliberate, wrong = [], [], []
    for case in cases:
        ours_says = ours_on_peer(case)
        if ours_says == case.expected:
            agree.append(case)
        elif case.key in PEER_DELIBERATE:
            deliberate.append(case)
        else:
            wrong.append((case, ours_says))
    graded = len(agree) + len(wrong)
    return {
        "agree": agree,
        "deliberate": deliberate,
        "wrong": wrong,
        "agreement": len(agree) / graded if graded else 1.0,
        "raw_agreement": len(agree) / len(cases) if cases else 1.0,
    }


def section_peer(explicit: str | None, with_math_verify: bool = True, verbose: bool = True) -> dict | None:
    folder, why = peer_folder(explicit)
    print("\n== (f) the peer grader's own test tables (Math-Verify tests/)")
    if folder is None:
        print(f"  {why}")
        return None
    cases, excluded, plain = load_peer_cases(folder)
    start = time.perf_counter()
    result = peer_agreement(cases)
    elapsed = time.perf_counter() - start
    n_excluded = sum(excluded.values())
    print(f"  from {folder}: {len(cases) + n_excluded} parametrized rows, {len(plain)} other tests")
    print(
        f"  agreement {100 * result['agreement']:.1f}%: {len(result['agree'])} agree, "
        f"{len(result['wrong'])} disagree, of {len(result['agree']) + len(result['wrong'])} graded; "
        f"(b) deliberate differences {len(result['deliberate'])}; "
        f"(c) excluded rows {n_excluded}; raw {100 * result['raw_agreement']:.1f}% of {len(cases)} "
        f"({elapsed:.1f} s)"
    )
    if with_math_verify:
        start = time.perf_counter()
        own = math_verify_on_peer(cases)
        if own is not None:
            print(
                f"  math-verify (installed) on the same {len(cases)} rows: {own} pass "
                f"({100 * own / len(cases):.1f}%, {time.perf_counter() - start:.1f} s)"
            )
    for reason, count in sorted(excluded.items()):
        print(f"    excluded {count:3}: {reason}")
    for name, reason in sorted(plain.items()):
        print(f"    excluded test {name}: (c) {reason}")
    for case in result["deliberate"]:
        print(f"    (b) {case.key} [{case.file}] {PEER_DELIBERATE[case.key]}")
    if verbose:
        for case, said in result["wrong"]:
            print(
                f"    disagree {case.key} expected={case.expected} ours={said} "
                f"gold={case.gold[-60:]!r} pred={case.pred[-90:]!r}"
            )
    return result
