"""Benchmark ``wizardmath.verify`` against Math-Verify, side by side in one process.

    .venv/bin/python benchmarks/verify_bench.py                      # everything
    .venv/bin/python benchmarks/verify_bench.py --only table,math500 --fuzz 2000

Sections: (a) the hand-written case table (``tests/verify/cases.py``); (b) MATH-500 gold ``answer``
vs its ``solution`` and against the next problem's solution (shifted pairs), plus the same for the
GSM8k test set; (c) 5,000 GSM8k-style numeric pairs, timed on one core; (d) 10,000 fuzzed and
hostile strings: latency, crashes and side effects; (e) long free-form outputs (over 2 kB of
reasoning before the MATH-500 solution, with its ``\\boxed{}`` and with the box removed). Each
prints accuracy, pairs/s, worst latency and the ratio to Math-Verify (``pip install math-verify``;
``--no-math-verify`` skips it).
Data is read from ``../shared/data`` next to the repository (``--data-dir`` to change), never copied.

Math-Verify gets the gold as ``parse("$" + gold + "$")`` and the response as ``parse(response)``,
its documented usage (a bare answer without ``$`` that yields nothing is retried as
``"$" + response + "$"``); both tools see exactly the same strings.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import random
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wizardmath.verify import VerifyOptions, check, extract_answer  # noqa: E402

Pair = tuple[str, str]
PWNED = Path(f"/tmp/wizardmath_verify_bench_pwned_{os.getpid()}")


def load_cases() -> list[tuple[str, str, str, bool]]:
    spec = importlib.util.spec_from_file_location("verify_cases", ROOT / "tests" / "verify" / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.all_cases()


def math_verify_fn() -> Callable[[str, str], bool] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs whole inputs on timeouts

    def run(gold: str, response: str) -> bool:
        try:
            answer = parse(response)
            if not answer and "$" not in response:  # a bare LaTeX answer: give it its delimiters
                answer = parse(f"${response}$")
            return bool(verify(parse(f"${gold}$"), answer))
        except Exception:
            return False

    return run


def ours(gold: str, response: str) -> bool:
    return check(gold, response).equal


def timed(fn: Callable[[str, str], bool], pairs: list[Pair]) -> tuple[list[bool], list[float]]:
    results, times = [], []
    for gold, response in pairs:
        start = time.perf_counter()
        results.append(fn(gold, response))
        times.append(time.perf_counter() - start)
    return results, times


def summary(name: str, results: list[bool], times: list[float], labels: list[bool] | None) -> dict:
    total = sum(times)
    row = {
        "tool": name,
        "pairs": len(results),
        "pairs_per_s": len(results) / total if total else float("inf"),
        "worst_ms": 1000 * max(times, default=0.0),
        "true": sum(results),
    }
    if labels is not None:
        row["accuracy"] = sum(r == lab for r, lab in zip(results, labels, strict=True)) / max(len(labels), 1)
    return row


def show(title: str, rows: list[dict]) -> None:
    print(f"\n== {title}")
    base = rows[-1] if len(rows) > 1 else None
    for row in rows:
        acc = f"accuracy {100 * row['accuracy']:6.2f}%  " if "accuracy" in row else ""
        ratio = (
            f"  ({row['pairs_per_s'] / base['pairs_per_s']:.1f}x Math-Verify)"
            if base and row is not base
            else ""
        )
        print(
            f"  {row['tool']:12} {acc}true {row['true']:5}/{row['pairs']:<5}  "
            f"{row['pairs_per_s']:10.1f} pairs/s  worst {row['worst_ms']:9.1f} ms{ratio}"
        )


def run_tools(title: str, pairs: list[Pair], labels: list[bool] | None, mv: Callable | None) -> tuple:
    ours_res, ours_t = timed(ours, pairs)
    rows = [summary("wizardmath", ours_res, ours_t, labels)]
    mv_res = None
    if mv is not None:
        mv_res, mv_t = timed(mv, pairs)
        rows.append(summary("math-verify", mv_res, mv_t, labels))
    show(title, rows)
    return ours_res, mv_res


# -- (a) case table --------------------------------------------------------------------------------
def section_table(mv: Callable | None) -> None:
    cases = load_cases()
    pairs = [(g, p) for _, g, p, _ in cases]
    labels = [e for *_, e in cases]
    ours_res, mv_res = run_tools(f"(a) case table: {len(cases)} hand-labelled pairs", pairs, labels, mv)
    groups: dict[str, list[int]] = {}
    for i, (group, *_rest) in enumerate(cases):
        groups.setdefault(group, []).append(i)
    print("  accuracy by class (ours / math-verify):")
    for group, idx in groups.items():
        o = sum(ours_res[i] == labels[i] for i in idx)
        m = sum(mv_res[i] == labels[i] for i in idx) if mv_res else None
        mv_text = f"{m:3}/{len(idx):<3} {100 * m / len(idx):5.1f}%" if m is not None else "-"
        print(f"    {group:22} {o:3}/{len(idx):<3} {100 * o / len(idx):5.1f}%   {mv_text}")
    for i, (group, g, p, e) in enumerate(cases):
        if ours_res[i] != e:
            print(f"  ours wrong: [{group}] gold={g[:50]!r} pred={p[:60]!r} label={e}")


# -- (b) MATH-500 and GSM8k -------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def section_datasets(data_dir: Path, mv: Callable | None) -> None:
    math = read_jsonl(data_dir / "math500" / "test.jsonl")
    golds = [r["answer"] for r in math]
    direct = [(r["answer"], r["solution"]) for r in math]
    run_tools("(b) MATH-500: verify(answer, solution)", direct, [True] * len(direct), mv)
    shifted = [(golds[(i + 1) % len(math)], r["solution"]) for i, r in enumerate(math)]
    ours_res, mv_res = run_tools(
        "(b) MATH-500 shifted: next problem's answer vs this solution", shifted, None, mv
    )
    for i, ok in enumerate(ours_res):
        if ok:
            print(
                f"  ours true at {i}: next answer {golds[(i + 1) % len(math)]!r} vs this answer {golds[i]!r}"
            )
    if mv_res:
        print(f"  math-verify true at: {[i for i, ok in enumerate(mv_res) if ok]}")

    gsm = read_jsonl(data_dir / "gsm8k" / "test.jsonl")
    numbers = [r["answer"].rsplit("####", 1)[1].strip() for r in gsm]
    direct = [(n, r["answer"]) for n, r in zip(numbers, gsm, strict=True)]
    run_tools("(b) GSM8k test: verify(gold number, answer text)", direct, [True] * len(direct), mv)
    shifted = [(numbers[(i + 1) % len(gsm)], r["answer"]) for i, r in enumerate(gsm)]
    coincide = sum(
        numbers[i].replace(",", "") == numbers[(i + 1) % len(gsm)].replace(",", "") for i in range(len(gsm))
    )
    run_tools(f"(b) GSM8k shifted ({coincide} adjacent golds coincide)", shifted, None, mv)


# -- (c) numeric pairs ------------------------------------------------------------------------------
def numeric_pairs(n: int, rng: random.Random) -> tuple[list[Pair], list[bool]]:
    pairs, labels = [], []
    for _ in range(n):
        value = rng.choice([rng.randint(0, 100), rng.randint(0, 10**6), round(rng.uniform(0, 1000), 2)])
        gold = f"{value:,}" if isinstance(value, int) and rng.random() < 0.3 else str(value)
        equal = rng.random() < 0.5
        shown = value if equal else value + rng.choice([1, -1, 10, 0.5])
        text = f"{shown:,}" if isinstance(shown, int) and rng.random() < 0.3 else str(shown)
        template = rng.choice(
            [
                "{x}",
                "The answer is: {x}",
                "So she makes {a} * 2 = {x} dollars.\n#### {x}",
                "Thus the total is $\\boxed{{{x}}}$.",
                "He pays ${x} in total. The answer is {x}.",
            ]
        )
        pairs.append((gold, template.format(x=text, a=rng.randint(1, 50))))
        labels.append(equal)
    return pairs, labels


def section_numeric(n: int, seed: int, mv: Callable | None) -> None:
    pairs, labels = numeric_pairs(n, random.Random(seed))
    run_tools(f"(c) {n} GSM8k-style numeric pairs (one core, in-process)", pairs, labels, mv)


# -- (d) fuzz and hostile ---------------------------------------------------------------------------
HOSTILE = [
    "9**9**9**9",
    "10^{10^{10^{10}}}",
    "2^{2^{2^{2^{2^{2}}}}}",
    "{" * 5000 + "1" + "}" * 5000,
    "(" * 5000,
    "\\frac{" * 5000,
    f"__import__('os').system('touch {PWNED}')",
    f"\\boxed{{__import__('os').system('touch {PWNED}')}}",
    f"$\\boxed{{open('{PWNED}', 'w')}}$",
    "1" * 100_000,
    "x+" * 50_000 + "x",
    "\x00" * 100,
    "3\x00" * 1000,
    "\\boxed{" + "\\sqrt{" * 3000 + "2" + "}" * 3000 + "}",
    "99999999999!",
    "(10^{9999})^{9999}",
    "\\left(" * 2000,
    "\\begin{pmatrix}" + "1&" * 5000 + "1\\end{pmatrix}",
    "x^{x^{x^{x^{x^{x^{x}}}}}}",
    "\\sin(" * 1000 + "x" + ")" * 1000,
    "a" * 100_000,
    "\\boxed{" * 5000,
    "1e999999999",
    "0." + "9" * 50_000,
    "\\frac{1}{0}",
    "(x+1)^{100000}",
    "\\prod_{k=1}^{10^{10}} k",
    "\\int_0^1 x dx",
    "2^{-10^{10}}",
    "((((x+1)^2+1)^2+1)^2+1)^{150}",
]
ALPHABET = string.digits + "+-*/^_()[]{}\\,.=<>|!$% abcxyz" + "\n"
TOKENS = [
    "\\frac",
    "\\sqrt",
    "\\boxed{",
    "\\pi",
    "\\infty",
    "\\cup",
    "\\left(",
    "\\right)",
    "^{",
    "}",
    "{",
    "x",
    "10",
    "9",
    "**",
    "\\pm",
    "\\text{",
    "\\begin{pmatrix}",
    "\\end{pmatrix}",
    "&",
    "\\\\",
    "e",
    "i",
    "!",
    "%",
    "The answer is: ",
]


def fuzz_strings(n: int, rng: random.Random) -> list[str]:
    out = list(HOSTILE)
    while len(out) < n:
        kind = rng.random()
        if kind < 0.4:
            s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))
        elif kind < 0.8:
            s = "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 25)))
        elif kind < 0.95:
            base = rng.choice(HOSTILE)
            cut = rng.randint(0, len(base))
            s = base[:cut] + rng.choice(TOKENS) + base[cut : cut + 2000]
        else:
            s = "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(1, 200)))
        out.append(s)
    return out[:n]


def section_fuzz(n: int, n_mv: int, seed: int, mv: Callable | None) -> None:
    rng = random.Random(seed)
    strings = fuzz_strings(n, rng)
    golds = ["3", "\\frac{1}{2}", "x^2+1", "(1,2)", "\\sqrt{2}"]
    pairs = [(golds[i % len(golds)], s) for i, s in enumerate(strings)]
    PWNED.unlink(missing_ok=True)
    crashes = over = 0
    times = []
    results = []
    for gold, s in pairs:
        start = time.perf_counter()
        try:
            verdict = check(gold, s)
            results.append(verdict.equal)
            crashes += verdict.reason.startswith("internal error")
        except BaseException:  # noqa: BLE001 - counting crashes is the point
            crashes += 1
            results.append(False)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        over += elapsed > 3.0
    rows = [summary("wizardmath", results, times, None)]
    side_effects = int(PWNED.exists())
    print(f"\n== (d) {n} fuzzed and hostile strings ({len(HOSTILE)} hand-made hostile ones first)")
    print(
        f"  wizardmath: over 3 s: {over}, crashes: {crashes}, side effects: {side_effects}, "
        f"equal: {sum(results)}"
    )
    if mv is not None and n_mv:
        subset = pairs[:n_mv]
        mv_res, mv_t = timed(mv, subset)
        rows.append(summary("math-verify", mv_res, mv_t, None))
        print(f"  math-verify on the first {n_mv}: over 3 s: {sum(t > 3 for t in mv_t)}")
    show("(d) latency", rows)
    PWNED.unlink(missing_ok=True)


# -- (e) long free-form outputs ---------------------------------------------------------------------
def long_outputs(math: list[dict], boxed: bool, min_chars: int = 2048) -> list[Pair]:
    """Each MATH-500 solution, long: the problem restated, then the statements of the following
    problems as exercises considered on the way (math, no answers) until ``min_chars`` is passed,
    then the solution. Without ``boxed`` its last box is replaced by its content, so the answer
    must be read from the final sentences, as from a model that does not box."""
    from wizardmath.verify import extract_boxed

    pairs = []
    for i, row in enumerate(math):
        solution = row["solution"]
        if not boxed:
            content = extract_boxed(solution)
            at = solution.rfind("\\boxed")
            if content is not None and at >= 0:
                solution = solution[:at] + content + solution[at + len("\\boxed{") + len(content) + 1 :]
        parts, j = [f"We are asked: {row['problem']}\n\nLet me first recall some similar exercises."], i + 1
        while sum(map(len, parts)) + len(solution) < min_chars:
            parts.append(f"Exercise: {math[j % len(math)]['problem']}")
            j += 1
        pairs.append((row["answer"], "\n\n".join(parts) + "\n\nNow the solution.\n\n" + solution))
    return pairs


def section_long(data_dir: Path, mv: Callable | None) -> None:
    math = read_jsonl(data_dir / "math500" / "test.jsonl")
    for boxed in (True, False):
        pairs = long_outputs(math, boxed)
        size = sum(len(p) for _, p in pairs) / len(pairs)
        label = "with \\boxed" if boxed else "without \\boxed (answer in the final sentence)"
        run_tools(
            f"(e) {len(pairs)} long outputs, mean {size / 1024:.1f} kB, {label}",
            pairs,
            [True] * len(pairs),
            mv,
        )


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT / ".." / "shared" / "data"))
    parser.add_argument(
        "--only", default="table,datasets,numeric,fuzz,long,peer", help="comma-separated sections"
    )
    parser.add_argument("--peer-tests", default=None, help=f"the peer's tests/ folder (default: ${PEER_ENV})")
    parser.add_argument("--numeric", type=int, default=5000)
    parser.add_argument("--fuzz", type=int, default=10_000)
    parser.add_argument(
        "--fuzz-math-verify",
        type=int,
        default=500,
        help="how many fuzz strings Math-Verify also gets (it is slow on them)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-math-verify", action="store_true")
    args = parser.parse_args(argv)
    mv = None if args.no_math_verify else math_verify_fn()
    if mv is None and not args.no_math_verify:
        print("math-verify is not installed: pip install math-verify (comparisons skipped)")
    sections = set(args.only.split(","))
    from wizardmath.verify.sandbox import warm_up

    warm_up()  # boot the sympy worker once, outside the timings
    if "table" in sections:
        section_table(mv)
    if "datasets" in sections:
        section_datasets(Path(args.data_dir), mv)
    if "numeric" in sections:
        section_numeric(args.numeric, args.seed, mv)
    if "fuzz" in sections:
        section_fuzz(args.fuzz, args.fuzz_math_verify, args.seed, mv)
    if "long" in sections:
        section_long(Path(args.data_dir), mv)
    if "peer" in sections:
        section_peer(args.peer_tests, with_math_verify=not args.no_math_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
