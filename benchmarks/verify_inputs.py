"""Hostile and fuzzed inputs for ``benchmarks/verify_bench.py`` (section d): hand-made attacks on the parser
and sandbox, and random strings built from math tokens."""

from __future__ import annotations

import os
import random
import string
from pathlib import Path

# A file the hostile strings try to create: it must never appear.
PWNED = Path(f"/tmp/wizardmath_verify_bench_pwned_{os.getpid()}")

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
