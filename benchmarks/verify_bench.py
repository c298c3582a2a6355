"""Benchmark ``wizardmath.verify`` against Math-Verify, side by side in one process.

    .venv/bin/python benchmarks/verify_bench.py                      # everything
    .venv/bin/python benchmarks/verify_bench.py --only table,math500 --fuzz 2000

Sections: (a) the hand-written case table (``tests/verify/cases.py``); (b) MATH-500 gold ``answer``
vs its ``solution`` and against the next problem's solution (shifted pairs), plus the same for the
GSM8k test set; (c) 5,000 GSM8k-style numeric pairs, timed on one core; (d) 10,000 fuzzed and
hostile strings: latency, crashes and side effects; (e) long free-form outputs (over 2 kB of
reasoning before the MATH-500 solution, with its ``\\boxed{}`` and with the box removed); (f) the peer
grader's own test tables (``benchmarks/verify_peer.py``). Each
prints accuracy, pairs/s, worst latency and the ratio to Math-Verify (``pip install math-verify``;
``--no-math-verify`` skips it).
Data is read from ``../shared/data`` next to the repository (``--data-dir`` to change), never copied.

Math-Verify gets the gold as ``parse("$" + gold + "$")`` and the response as ``parse(response)``,
its documented usage (a bare answer without ``$`` that yields nothing is retried as
``"$" + response + "$"``); both tools see exactly the same strings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling verify_peer.py, run as a script
from verify_inputs import HOSTILE, PWNED, fuzz_strings  # noqa: E402
from verify_peer import PEER_ENV, section_peer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wizardmath.verify import check  # noqa: E402

Pair = tuple[str, str]


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
