"""Evolution operations as data: one prompt template file per operation, chosen by name.

Each file in ``wizardmath/evol/prompts/`` (or a user's ``prompt_dir``, whose files override and
extend the built-in ones) has a small header, a ``---`` line and the template::

    direction: up
    description: Add one more constraint ...
    ---
    You are rewriting a math word problem ...
    #Given Prompt#:
    {problem}
    #Rewritten Prompt#:

``direction`` is ``up`` (harder), ``down`` (easier), ``breadth`` (new rare problem) or ``judge``
(the "equal" prompt of the eliminator, with ``{first}`` and ``{second}``). Placeholders are filled
with ``str.replace``, never ``str.format``, because problems are full of LaTeX braces.

A round's operations are written ``up``, ``down``, ``breadth``, ``all`` (groups, equal weights) or
``add_constraints:2,deepen:1`` (names with weights).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DIRECTIONS = ("up", "down", "breadth", "judge")
EQUAL_PROMPT = "equal"


@dataclass(frozen=True)
class Operation:
    name: str
    direction: str
    description: str
    template: str

    def render(self, problem: str) -> str:
        """The prompt that asks a model to apply this operation to ``problem``."""
        return self.template.replace("{problem}", problem.strip())

    def extract(self, prompt: str) -> str | None:
        """The problem inside ``prompt`` if this template rendered it, else None.

        Used by the symbolic backend."""
        if "{problem}" not in self.template:
            return None
        head, tail = self.template.split("{problem}", 1)
        if prompt.startswith(head) and prompt.endswith(tail) and len(prompt) >= len(head) + len(tail):
            return prompt[len(head) : len(prompt) - len(tail)].strip()
        return None


def parse_operation_file(name: str, text: str, where: str) -> Operation:
    header, sep, template = text.partition("\n---\n")
    if not sep:
        raise ValueError(f"{where}: expected a header, a '---' line and the template")
    fields = {}
    for line in header.splitlines():
        if line.strip():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    direction = fields.get("direction", "")
    if direction not in DIRECTIONS:
        raise ValueError(f"{where}: 'direction' must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    needed = ("{first}", "{second}") if direction == "judge" else ("{problem}",)
    for placeholder in needed:
        if placeholder not in template:
            raise ValueError(f"{where}: the template has no {placeholder} placeholder")
    return Operation(name, direction, fields.get("description", ""), template.rstrip("\n") + "\n")


def load_operations(prompt_dir: str | None = None) -> dict[str, Operation]:
    """Built-in operations, overridden and extended by ``prompt_dir/*.txt`` when given."""
    ops: dict[str, Operation] = {}
    builtin = resources.files("wizardmath.evol") / "prompts"
    for entry in sorted(builtin.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            name = entry.name[: -len(".txt")]
            ops[name] = parse_operation_file(name, entry.read_text(encoding="utf-8"), f"prompts/{entry.name}")
    if prompt_dir:
        folder = Path(prompt_dir)
        if not folder.is_dir():
            raise ValueError(f"prompt_dir {prompt_dir!r} is not a folder of <operation>.txt files")
        for path in sorted(folder.glob("*.txt")):
            ops[path.stem] = parse_operation_file(path.stem, path.read_text(encoding="utf-8"), str(path))
    return ops


def evolution_ops(ops: dict[str, Operation]) -> dict[str, Operation]:
    return {name: op for name, op in ops.items() if op.direction != "judge"}


def parse_round(spec: str, ops: dict[str, Operation]) -> list[tuple[str, float]]:
    """``"up"`` / ``"down"`` / ``"breadth"`` / ``"all"`` or ``"op:w,op:w"`` -> [(operation, weight)]."""
    evo = evolution_ops(ops)
    spec = spec.strip()
    if spec == "all":
        return [(name, 1.0) for name in evo]
    if spec in ("up", "down", "breadth"):
        return [(name, 1.0) for name, op in evo.items() if op.direction == spec]
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition(":")
        if name not in evo:
            valid = ", ".join(["up", "down", "breadth", "all", *evo])
            raise ValueError(f"unknown operation {name!r} in round spec {spec!r}; valid: {valid}")
        try:
            value = float(weight) if weight else 1.0
        except ValueError as err:
            raise ValueError(
                f"weight of {name!r} in round spec {spec!r} must be a number, got {weight!r}"
            ) from err
        if value < 0:
            raise ValueError(f"weight of {name!r} in round spec {spec!r} must be >= 0")
        out.append((name, value))
    if not out or sum(w for _, w in out) <= 0:
        raise ValueError(f"round spec {spec!r} selects no operation with a positive weight")
    return out


_LEADING_HEADER = re.compile(
    r"^\s*(?:\*\*)?#?\s*(?:rewritten|new|created)\s+(?:prompt|problem)\s*#?\s*:?\s*(?:\*\*)?\s*:?\s*", re.I
)


def clean_output(text: str) -> str:
    """Tolerant reading of an evolution reply: drop a leading "#Rewritten Prompt#:" header and quotes.

    Only a header at the very start is forgiven (models often echo it); the same words anywhere
    else are a template leak the eliminator rejects.
    """
    text = _LEADING_HEADER.sub("", text.strip(), count=1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def render_equal(ops: dict[str, Operation], first: str, second: str) -> str:
    template = ops[EQUAL_PROMPT].template
    return template.replace("{first}", first.strip()).replace("{second}", second.strip())


@functools.lru_cache(maxsize=8)
def _equal_pattern(template: str) -> re.Pattern[str]:
    pattern = (
        re.escape(template)
        .replace(re.escape("{first}"), "(?P<a>.*)")
        .replace(re.escape("{second}"), "(?P<b>.*)")
    )
    return re.compile(pattern, flags=re.S)


def extract_equal(ops: dict[str, Operation], prompt: str) -> tuple[str, str] | None:
    """(first, second) if ``prompt`` is a rendered "equal" prompt (for the symbolic backend)."""
    template = ops[EQUAL_PROMPT].template
    if not prompt.startswith(template[: template.index("{first}")]):
        return None
    match = _equal_pattern(template).fullmatch(prompt)
    return (match["a"].strip(), match["b"].strip()) if match else None


def parse_equal(reply: str) -> bool | None:
    """True for "Equal", False for "Not Equal", None when the judge said neither."""
    text = reply.strip().strip(".*\"' ").lower()
    if text.startswith("not equal") or text.startswith("not the same"):
        return False
    if text.startswith("equal"):
        return True
    return None
