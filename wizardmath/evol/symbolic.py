"""The symbolic backend: an LLM stand-in that writes, evolves, judges and solves word problems exactly.

It speaks the same text protocol as an LLM (``Backend.generate``), so the evolution engine and
``solve`` drive it through exactly the code path they use for GPT-4 or a local model:

- an evolution prompt (any template in ``wizardmath/evol/prompts``) -> the rewritten problem: the
  backend recognises the template, reads the parent problem back from its text
  (``world.parse``) and applies the operation to its structure (add a step, two steps, a
  bags-of step, a price, a distractor; remove a step; a new easy or rare problem);
- the "equal" prompt -> "Equal" / "Not Equal" (same maths up to wording);
- anything else is a problem to solve (WizardMath, chat or raw prompt) -> the gold step-by-step
  solution, with an arithmetic slip in a fraction ``error_rate`` of samples. ``decomposed_share`` < 1
  mixes teacher styles as LLM teachers write: that share in the decomposed gold format, the rest terse
  (``symbolic_solve.styled_solution``); 1 (the default) is the clean world.

Like an LLM it fails now and then (``failure_rate``): an ill-posed problem (start quantity missing),
a contradictory one (gives away more than there is), a template leak, a refusal, or no
information gain (the parent again, maybe reworded). The engine's eliminator has to catch these
with the rules it applies to any model. Each generation's ``meta`` carries the facts an
instruction reward model needs (``structure``, ``difficulty``, ``well_posed``, ``consistent``,
``failure``). Samples are seeded by (seed, prompt, sample index), so results never depend on
batching, and a resumed run regenerates exactly what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

from wizardmath.backends.base import Backend, Generation, Prompt, SamplingParams, prompt_text
from wizardmath.data.records import MathProblem
from wizardmath.data.templates import problem_from_prompt
from wizardmath.evol import world as W
from wizardmath.evol.symbolic_solve import TERSE_FORMS, gold_values, solve_problem, styled_solution
from wizardmath.evol.world import DEFAULT_WORLD, WordProblem, WorldConfig

FAILURES = ("ill_posed", "contradictory", "template_leak", "refusal", "no_gain")


def generate_problems(
    n: int,
    seed: int,
    min_ops: int = 1,
    max_ops: int = 3,
    world: WorldConfig = DEFAULT_WORLD,
    exclude: set[str] | None = None,
    prefix: str = "symbolic",
) -> list[MathProblem]:
    """``n`` distinct well-posed problems with gold answers and solutions (seeds or a test set).

    Use another ``seed`` (and ``exclude`` the seed texts) for a held-out test set; ids are
    ``<prefix>/<seed>/<index>``.
    """
    if not 1 <= min_ops <= max_ops:
        raise ValueError(f"need 1 <= min_ops <= max_ops, got min_ops={min_ops}, max_ops={max_ops}")
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[MathProblem] = []
    for _ in range(50 * n + 100):
        if len(out) >= n:
            break
        wp = W.random_problem(rng, world, rng.randint(min_ops, max_ops))
        text = W.render(wp)
        if text in seen or len(wp.steps) < min_ops:
            continue
        seen.add(text)
        out.append(to_record(wp, f"{prefix}/{seed}/{len(out)}", source="symbolic"))
    if len(out) < n:
        raise ValueError(
            f"only {len(out)} distinct problems fit min_ops={min_ops}, max_ops={max_ops}; ask for fewer"
        )
    return out


def to_record(wp: WordProblem, id: str, **fields: Any) -> MathProblem:
    """A ``MathProblem`` with the exact answer, the gold solution and the structure in ``meta``."""
    solved = W.solve_text(wp)
    solution, answer = solved if solved else (None, None)
    return MathProblem(
        id=id, problem=W.render(wp), answer=answer, solution=solution, meta=facts(wp), **fields
    )


def facts(wp: WordProblem) -> dict[str, Any]:
    """What a judge (or the IRM data builder) needs to know about a problem."""
    return {
        "structure": wp.to_dict(),
        "difficulty": wp.difficulty,
        "well_posed": wp.start is not None,
        "consistent": wp.start is None or W.gold_steps(wp) is not None,
    }


def gold_solution(problem: str | MathProblem) -> tuple[str, str] | None:
    """(WizardMath-format solution, exact answer) of a symbolic problem (its text or record); else None."""
    if isinstance(problem, MathProblem):
        structure = problem.meta.get("structure")
        wp = WordProblem.from_dict(structure) if structure else W.parse(problem.problem)
    else:
        wp = W.parse(problem)
    return W.solve_text(wp) if wp is not None else None


def sample_texts(n: int, seed: int) -> Iterator[str]:
    """Problem and solution texts covering the whole vocabulary (for the tiny tokenizer's corpus)."""
    rng = random.Random(seed)
    for index in range(max(1, n // 2)):
        wp = W.random_problem(rng, DEFAULT_WORLD, rng.randint(1, 5), items=W.ALL_ITEMS)
        if rng.random() < 0.3:
            W.add_distractor(wp, rng, DEFAULT_WORLD)
        if rng.random() < 0.2 and (W.values(wp) or [0])[-1] * 5 <= DEFAULT_WORLD.max_value:
            wp.price = rng.randint(2, 5)
        yield W.render(wp)
        solved = W.solve_text(wp)
        if solved:
            yield solved[0]
            if index % 8 == 0:  # the terse style's words too (no extra draw: the rest of the corpus stays)
                yield styled_solution(wp, gold_values(wp), "terse")[0]


# ----------------------------------------------------------------------------- evolution


def _canonical(wp: WordProblem) -> WordProblem:
    return W.parse(W.render(wp)) or wp


def evolve_structure(
    wp: WordProblem, operation: str, rng: random.Random, world: WorldConfig = DEFAULT_WORLD
) -> WordProblem:
    """Apply an evolution operation to a structure (unknown operations add a step, like add_constraints)."""
    new = dataclasses.replace(wp, steps=list(wp.steps), distractors=list(wp.distractors))
    if new.start is None:  # an ill-posed parent: a sensible rewriter first states the start
        new.start = rng.randint(world.start_min, world.start_max)
    if operation == "increase_reasoning":
        W.insert_step(new, rng, world)
        W.insert_step(new, rng, world)
    elif operation == "deepen":
        W.insert_step(new, rng, world, kinds=("mul", "packs")) or W.insert_step(new, rng, world)
    elif operation == "concretise":
        last = (W.values(new) or [0])[-1]
        if new.price is None and last >= 1 and last * 2 <= world.max_value:
            new.price = rng.randint(2, max(2, min(5, world.max_value // last)))
        else:
            W.insert_step(new, rng, world, kinds=("packs",)) or W.insert_step(new, rng, world)
    elif operation == "complicate_input":
        W.add_distractor(new, rng, world)
    elif operation == "revise_easier":
        if len(new.steps) > 1:
            for _ in range(20):
                position = rng.randrange(len(new.steps))
                trial = dataclasses.replace(new, steps=new.steps[:position] + new.steps[position + 1 :])
                if W.feasible(trial, world):
                    new = trial
                    break
        elif new.price is not None:
            new.price = None
        else:
            new = W.random_problem(rng, dataclasses.replace(world, start_max=10), 1, items=((None, wp.item),))
            new.name, new.pronoun = wp.name, wp.pronoun
    elif operation == "new_easier":
        items = tuple(i for i in W.ITEMS if i[1] != wp.item)
        new = W.random_problem(rng, dataclasses.replace(world, start_max=10), 1, items=items)
    elif operation == "in_breadth":
        new = W.random_problem(
            rng,
            world,
            max(1, min(len(wp.steps), 3)),
            items=W.RARE_ITEMS,
            kinds=("div", "packs", "mul", "add"),
        )
    else:  # add_constraints and any user-defined upward operation
        W.insert_step(new, rng, world)
    return _canonical(new)


def fail(wp: WordProblem, mode: str, parent_text: str, rng: random.Random) -> tuple[str, WordProblem | None]:
    """A deliberately bad rewrite, as LLMs produce now and then: (text, structure if any)."""
    if mode == "ill_posed":
        broken = dataclasses.replace(wp, start=None)
        return W.render(broken), broken
    if mode == "contradictory":
        seq = W.values(wp) or [wp.start or 0]
        position = rng.randint(0, len(wp.steps))
        step = W.Step(
            "sub",
            seq[position] + rng.randint(1, 9),
            other=rng.choice([n for n, _ in W.NAMES if n != wp.name]),
        )
        broken = dataclasses.replace(wp, steps=[*wp.steps[:position], step, *wp.steps[position:]])
        return W.render(broken), broken
    if mode == "template_leak":
        head, _, rest = W.render(wp).partition(". ")
        return f"{head}. #Rewritten Prompt#: {rest}", None
    if mode == "refusal":
        return rng.choice(
            ["Sorry, I can't help with that.", "I'm sorry, but I cannot rewrite this problem."]
        ), None
    # no_gain: the parent again, half the time with other words for the same maths
    parent = W.parse(parent_text)
    if parent is not None and rng.random() < 0.5:
        parent.steps = [dataclasses.replace(s, variant=1 - s.variant) for s in parent.steps]
        return W.render(parent), parent
    return parent_text, parent


class SymbolicBackend(Backend):
    """See the module docstring. Registered as backend ``symbolic``."""

    name = "symbolic"

    def __init__(
        self,
        seed: int = 0,
        failure_rate: float = 0.12,
        error_rate: float = 0.0,
        decomposed_share: float = 1.0,
        terse_form: str = "folded",
        failures: Sequence[str] = FAILURES,
        prompt_dir: str | None = None,
        world: WorldConfig | None = None,
        **world_overrides: Any,
    ):
        from wizardmath.evol.operations import load_operations

        for name, rate in (
            ("failure_rate", failure_rate),
            ("error_rate", error_rate),
            ("decomposed_share", decomposed_share),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"symbolic backend: {name} must be in [0, 1], got {rate}")
        unknown = set(failures) - set(FAILURES)
        if unknown:
            raise ValueError(
                f"symbolic backend: unknown failures {sorted(unknown)}; valid: {', '.join(FAILURES)}"
            )
        self.seed, self.failure_rate, self.error_rate = seed, failure_rate, error_rate
        if terse_form not in TERSE_FORMS:
            raise ValueError(
                f"symbolic backend: unknown terse_form '{terse_form}'; valid: {', '.join(TERSE_FORMS)}"
            )
        self.decomposed_share, self.terse_form = decomposed_share, terse_form
        self.failures = tuple(failures)
        self.world = dataclasses.replace(world or DEFAULT_WORLD, **world_overrides)
        self.ops = load_operations(prompt_dir)

    def _rng(self, prompt: str, index: int, sampling: SamplingParams) -> random.Random:
        key = f"{self.seed}|{sampling.seed}|{index if sampling.temperature > 0 else 0}|{prompt}"
        return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[list[Generation]]:
        out = []
        for prompt in prompts:
            text = prompt_text(prompt)
            gens = []
            for index in range(sampling.n):
                reply, meta = self.respond(text, self._rng(text, index, sampling))
                gens.append(Generation(reply, len(text.split()), len(reply.split()), "stop", meta=meta))
            out.append(gens)
        return out

    def respond(self, prompt: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """One reply to one prompt; which kind of prompt it is decides what the backend does."""
        from wizardmath.evol.operations import EQUAL_PROMPT, extract_equal

        if EQUAL_PROMPT in self.ops:
            pair = extract_equal(self.ops, prompt)
            if pair is not None:
                first, second = (W.parse(t) for t in pair)
                same = pair[0] == pair[1] or (
                    first is not None and second is not None and first.same_maths(second)
                )
                return ("Equal" if same else "Not Equal"), {}
        for name, op in self.ops.items():
            parent = op.extract(prompt) if op.direction != "judge" else None
            if parent is not None:
                return self.evolve_text(parent, name, rng)
        return solve_problem(
            problem_from_prompt(prompt), rng, self.error_rate, self.decomposed_share, self.terse_form
        )

    def evolve_text(self, parent: str, operation: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
        wp = W.parse(parent)
        if wp is None:
            return "Sorry, I can only rewrite problems of the symbolic world.", {"failure": "refusal"}
        if self.failures and rng.random() < self.failure_rate:
            mode = rng.choice(self.failures)
            text, broken = fail(wp, mode, parent, rng)
            return text, {**(facts(broken) if broken else {}), "failure": mode}
        new = evolve_structure(wp, operation, rng, self.world)
        return W.render(new), {**facts(new), "failure": None}
