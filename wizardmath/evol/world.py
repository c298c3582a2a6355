"""The symbolic world's problems: a structure with an exact answer, rendered to and parsed from text.

A ``WordProblem`` is an entity (a name), an item, a start quantity and a list of ``Step``s (add k,
subtract k, multiply by k, buy k bags of m, keep one of k equal groups), plus optional distractor
sentences the solution must ignore and an optional price that turns the count into dollars.
Sentences come from a few fixed templates over a small vocabulary, and every intermediate value is
kept in ``0..max_value``, so a model of a few million parameters can learn to read and compute them.

``render`` and ``parse`` are inverses (``parse(render(p)) == p``): the symbolic backend reads a
problem back from plain text, so it works as a solver and an evolver through the same text-in,
text-out protocol as an LLM, with no side channel. ``gold_steps`` computes the exact answer and the
one-equation-per-line solution; it reports ill-posed (no start quantity) and contradictory
(a negative count, an inexact split) problems instead of answering them.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass, field
from typing import Any

NAMES = (
    ("Tom", "He"),
    ("Ann", "She"),
    ("Sam", "He"),
    ("Mia", "She"),
    ("Ben", "He"),
    ("Lily", "She"),
    ("Max", "He"),
    ("Zoe", "She"),
)
ITEMS = (
    ("apple", "apples"),
    ("pen", "pens"),
    ("book", "books"),
    ("card", "cards"),
    ("egg", "eggs"),
    ("coin", "coins"),
)
RARE_ITEMS = (("stamp", "stamps"), ("shell", "shells"), ("bead", "beads"), ("kite", "kites"))
ALL_ITEMS = ITEMS + RARE_ITEMS
PLURAL_TO_SINGULAR = {plural: singular for singular, plural in ALL_ITEMS}

# Sentence templates per step kind; index = wording variant (same maths, other words).
STEP_SENTENCES: dict[str, tuple[str, ...]] = {
    "add": ("{P} buys {k} more {pl}.", "{P} gets {k} more {pl}."),
    "sub": ("{P} gives {k} {pl} to {O}.", "{P} hands {k} {pl} to {O}."),
    "mul": ("{P} now has {k} times as many {pl}.", "{P} ends up with {k} times as many {pl}."),
    "packs": ("{P} buys {k} bags with {m} {pl} in each bag.", "{P} gets {k} bags with {m} {pl} in each bag."),
    "div": (
        "{P} splits the {pl} into {k} equal groups and keeps one group.",
        "{P} shares the {pl} in {k} equal groups and keeps one group.",
    ),
}
# One solution line per step: the problem's sentence restated, then its equation. Restating makes
# every number the line needs sit right before it (the copy is local, the way a tiny model learns
# it fast), and the next line starts where the problem's next sentence does.
STEP_EQUATIONS = {
    "add": "{a} + {k} = {b}",
    "sub": "{a} - {k} = {b}",
    "mul": "{a} * {k} = {b}",
    "packs": "{k} * {m} = {p}, then {a} + {p} = {b}",
    "div": "{a} / {k} = {b}",
}
START = "{N} has {s} {pl}."
PRICE = "Each {sg} costs {k} dollars."
QUESTION = "How many {pl} does {N} have now?"
PRICE_QUESTION = "How many dollars are {N}'s {pl} worth?"
STEP_KINDS = tuple(STEP_SENTENCES)


@dataclass(frozen=True)
class WorldConfig:
    """Number ranges of the world; small by default so a tiny model can do the arithmetic."""

    start_min: int = 2
    start_max: int = 20
    max_operand: int = 9
    max_value: int = 99
    max_steps: int = 7
    weights: tuple[tuple[str, float], ...] = (
        ("add", 3.0),
        ("sub", 3.0),
        ("mul", 1.5),
        ("packs", 1.0),
        ("div", 1.0),
    )


DEFAULT_WORLD = WorldConfig()


@dataclass
class Step:
    op: str  # one of STEP_KINDS
    k: int
    m: int = 0  # packs: items per bag
    other: str = ""  # sub: who receives
    variant: int = 0  # wording variant, see STEP_SENTENCES

    def apply(self, value: int) -> int | None:
        """The new count, or None when the step cannot be done exactly (an inexact split)."""
        if self.op == "add":
            return value + self.k
        if self.op == "sub":
            return value - self.k
        if self.op == "mul":
            return value * self.k
        if self.op == "packs":
            return value + self.k * self.m
        if value % self.k:
            return None
        return value // self.k


@dataclass
class WordProblem:
    name: str
    pronoun: str
    item: str  # plural form
    start: int | None  # None: ill-posed (the start quantity is missing)
    steps: list[Step] = field(default_factory=list)
    price: int | None = None
    distractors: list[tuple[int, str, int, str]] = field(
        default_factory=list
    )  # (position, name, count, item)

    @property
    def difficulty(self) -> int:
        """Arithmetic steps a solution needs: the measure upward/downward evolution moves."""
        return len(self.steps) + (self.price is not None)

    def to_dict(self) -> dict[str, Any]:
        steps = [{"op": s.op, "k": s.k, "m": s.m, "other": s.other, "variant": s.variant} for s in self.steps]
        return {
            "name": self.name,
            "pronoun": self.pronoun,
            "item": self.item,
            "start": self.start,
            "steps": steps,
            "price": self.price,
            "distractors": [list(d) for d in self.distractors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordProblem:
        steps = [Step(**s) for s in data.get("steps", [])]
        distractors = [tuple(d) for d in data.get("distractors", [])]
        return cls(**{**data, "steps": steps, "distractors": distractors})

    def same_maths(self, other: WordProblem) -> bool:
        """Equal up to wording: what the 'equal' judge asks (no information gain)."""
        plain = [dataclasses.replace(s, variant=0) for s in self.steps]
        theirs = [dataclasses.replace(s, variant=0) for s in other.steps]
        return (self.name, self.item, self.start, plain, self.price, self.distractors) == (
            other.name,
            other.item,
            other.start,
            theirs,
            other.price,
            other.distractors,
        )


def render(wp: WordProblem) -> str:
    """The problem text."""
    body = [START.format(N=wp.name, s=wp.start, pl=wp.item)] if wp.start is not None else []
    for step in wp.steps:
        body.append(
            STEP_SENTENCES[step.op][step.variant].format(
                P=wp.pronoun, k=step.k, m=step.m, pl=wp.item, O=step.other
            )
        )
    for position, name, count, item in sorted(wp.distractors):  # position = index in the final body
        body.insert(min(position, len(body)), START.format(N=name, s=count, pl=item))
    if wp.price is not None:
        body.append(PRICE.format(sg=PLURAL_TO_SINGULAR.get(wp.item, wp.item), k=wp.price))
        body.append(PRICE_QUESTION.format(N=wp.name, pl=wp.item))
    else:
        body.append(QUESTION.format(N=wp.name, pl=wp.item))
    return " ".join(body)


def step_line(wp: WordProblem, step: Step, value: int, new: int) -> str:
    """One solution line: the step's sentence, then ``so <equation>`` (``new`` may be a slip)."""
    sentence = STEP_SENTENCES[step.op][step.variant].format(
        P=wp.pronoun, k=step.k, m=step.m, pl=wp.item, O=step.other
    )
    equation = STEP_EQUATIONS[step.op].format(k=step.k, m=step.m, p=step.k * step.m, a=value, b=new)
    return f"{sentence[:-1]}, so {equation}."


def price_line(wp: WordProblem, value: int, total: int) -> str:
    sentence = PRICE.format(sg=PLURAL_TO_SINGULAR.get(wp.item, wp.item), k=wp.price)
    return f"{sentence[:-1]}, so {value} * {wp.price} = {total}."


def gold_steps(wp: WordProblem) -> tuple[list[str], int] | None:
    """(solution lines, exact answer), or None when the problem is ill-posed or contradictory."""
    value = wp.start
    if value is None:
        return None
    lines = []
    for step in wp.steps:
        new = step.apply(value)
        if new is None or new < 0:
            return None
        lines.append(step_line(wp, step, value, new))
        value = new
    if wp.price is not None:
        lines.append(price_line(wp, value, value * wp.price))
        value *= wp.price
    return lines, value


def solve_text(wp: WordProblem) -> tuple[str, str] | None:
    """(WizardMath-format solution, answer) for a well-posed, consistent problem; else None."""
    from wizardmath.data.templates import format_solution

    gold = gold_steps(wp)
    if gold is None:
        return None
    lines, answer = gold
    return format_solution(lines, str(answer)), str(answer)


# ----------------------------------------------------------------------------- parsing

_SENTENCE_SPLIT = re.compile(r"(?<=[.?])\s+")


def _pattern(template: str) -> re.Pattern[str]:
    groups = {
        "{P}": r"(?P<P>He|She)",
        "{k}": r"(?P<k>\d+)",
        "{m}": r"(?P<m>\d+)",
        "{pl}": r"(?P<pl>[a-z]+)",
        "{O}": r"(?P<O>[A-Z][a-z]+)",
        "{N}": r"(?P<N>[A-Z][a-z]+)",
        "{s}": r"(?P<s>\d+)",
        "{sg}": r"(?P<sg>[a-z]+)",
    }
    regex = re.escape(template)
    for key, group in groups.items():
        regex = regex.replace(re.escape(key), group)
    return re.compile(regex + r"$")


_STEP_PATTERNS = [
    (op, variant, _pattern(t)) for op, ts in STEP_SENTENCES.items() for variant, t in enumerate(ts)
]
_START, _PRICE = _pattern(START), _pattern(PRICE)
_QUESTION, _PRICE_QUESTION = _pattern(QUESTION), _pattern(PRICE_QUESTION)
_PRONOUNS = dict(NAMES)


def parse(text: str) -> WordProblem | None:
    """Read a problem of this world back from its text; None for anything else."""
    sentences = _SENTENCE_SPLIT.split(text.strip())
    if not sentences:
        return None
    question = _QUESTION.match(sentences[-1]) or _PRICE_QUESTION.match(sentences[-1])
    if question is None:
        return None
    name, item = question["N"], question["pl"]
    wp = WordProblem(name=name, pronoun=_PRONOUNS.get(name, "He"), item=item, start=None)
    body = 0  # sentences seen that render() counts as body (start, steps, distractors)
    for sentence in sentences[:-1]:
        start = _START.match(sentence)
        if start and start["N"] == name and start["pl"] == item and wp.start is None and not wp.steps:
            wp.start, body = int(start["s"]), body + 1
            continue
        if start:
            wp.distractors.append((body, start["N"], int(start["s"]), start["pl"]))
            body += 1
            continue
        price = _PRICE.match(sentence)
        if price and wp.price is None:
            wp.price = int(price["k"])
            continue
        step = _match_step(sentence, item)
        if step is None:
            return None
        wp.steps.append(step)
        body += 1
    if (wp.price is None) != (question.re is _QUESTION):
        return None
    return wp


def _match_step(sentence: str, item: str) -> Step | None:
    for op, variant, pattern in _STEP_PATTERNS:
        match = pattern.match(sentence)
        if match and match["pl"] == item:
            groups = match.groupdict()
            return Step(op, int(groups["k"]), int(groups.get("m") or 0), groups.get("O") or "", variant)
    return None


# ----------------------------------------------------------------------------- sampling


def sample_step(
    value: int, rng: random.Random, world: WorldConfig, kinds: tuple[str, ...] | None = None, name: str = ""
) -> Step | None:
    """A random step that keeps the count within ``0..max_value`` and exact; None if none fits."""
    weights = [(op, w) for op, w in world.weights if kinds is None or op in kinds]
    for _ in range(20):
        op = rng.choices([o for o, _ in weights], [w for _, w in weights])[0]
        top = world.max_operand
        if op == "add" and value + 1 <= world.max_value:
            return Step("add", rng.randint(1, min(top, world.max_value - value)))
        if op == "sub" and value >= 2:  # never down to zero: "0" would be a too-easy guess
            other = rng.choice([n for n, _ in NAMES if n != name])
            return Step("sub", rng.randint(1, min(top, value - 1)), other=other)
        if op == "mul" and value >= 1 and value * 2 <= world.max_value:
            return Step("mul", rng.randint(2, max(2, min(4, top, world.max_value // value))))
        if op == "packs":
            k, m = rng.randint(2, 4), rng.randint(2, min(6, top))
            if value + k * m <= world.max_value:
                return Step("packs", k, m)
        if op == "div":
            divisors = [k for k in range(2, min(5, top) + 1) if value >= k and value % k == 0]
            if divisors:
                return Step("div", rng.choice(divisors))
    return None


def values(wp: WordProblem) -> list[int] | None:
    """Every count along the way (start included), or None when a step is inexact."""
    if wp.start is None:
        return None
    out = [wp.start]
    for step in wp.steps:
        new = step.apply(out[-1])
        if new is None:
            return None
        out.append(new)
    return out


def feasible(wp: WordProblem, world: WorldConfig) -> bool:
    seq = values(wp)
    if seq is None or any(v < 0 or v > world.max_value for v in seq):
        return False
    return wp.price is None or seq[-1] * wp.price <= world.max_value


def random_problem(
    rng: random.Random,
    world: WorldConfig = DEFAULT_WORLD,
    num_steps: int = 2,
    items: tuple[tuple[str, str], ...] = ITEMS,
    kinds: tuple[str, ...] | None = None,
) -> WordProblem:
    """A fresh well-posed problem with ``num_steps`` steps (fewer only if the numbers leave no room)."""
    name, pronoun = rng.choice(NAMES)
    _, item = rng.choice(items)
    wp = WordProblem(name, pronoun, item, rng.randint(world.start_min, world.start_max))
    value = wp.start
    for _ in range(num_steps):
        step = sample_step(value, rng, world, kinds, name)
        if step is None:
            break
        wp.steps.append(step)
        value = step.apply(value)
    return wp


def insert_step(
    wp: WordProblem, rng: random.Random, world: WorldConfig, kinds: tuple[str, ...] | None = None
) -> bool:
    """Insert one random step at a random place keeping the problem feasible; False if no room."""
    if len(wp.steps) >= world.max_steps:
        return False
    seq = values(wp) or [wp.start or 0]
    for _ in range(30):
        position = rng.randint(0, len(wp.steps))
        step = sample_step(seq[position], rng, world, kinds, wp.name)
        if step is None:
            continue
        trial = dataclasses.replace(wp, steps=[*wp.steps[:position], step, *wp.steps[position:]])
        if feasible(trial, world):
            wp.steps = trial.steps
            return True
    return False


def add_distractor(wp: WordProblem, rng: random.Random, world: WorldConfig) -> None:
    """A sentence about another person and another item: true, but irrelevant to the question."""
    name = rng.choice([n for n, _ in NAMES if n != wp.name])
    item = rng.choice([pl for _, pl in ALL_ITEMS if pl != wp.item])
    position = rng.randint(0, len(wp.steps) + (wp.start is not None) + len(wp.distractors))
    wp.distractors.append((position, name, rng.randint(world.start_min, world.start_max), item))
