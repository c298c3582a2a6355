"""Print the import graph of ``wizardmath/`` and ``reward_models/`` by module and by layer; exit 1 on
any import cycle or any import from a lower layer into a higher one.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency) and under
``TYPE_CHECKING``. ``from pkg import name`` points at ``pkg.name`` when that is a module, else at
``pkg`` (its ``__init__``). Importing a module runs its parent packages' ``__init__`` too, but that
implicit step is not drawn, as import linters do not draw it.

Layers, bottom (0) to top; a module may import its own layer and the ones below, never one above:

== ============= ==================================================================================
 0 base          the package root, ``jsonl``, ``runstate``, ``resume``, ``config``, ``checkpoints``,
                 ``workers``, ``distributed``: files, run state, trainer resume guards, YAML configs,
                 the worker pool, ranks of a launch; no maths, no models
 1 verify        answer extraction, normalisation, equivalence, step checks (no torch)
 2 data          records, loaders, prompt templates (the chat-or-template choice)
 3 backends      the generation protocol and its HTTP/transformers/vLLM implementations + registry
 4 args          argument dataclasses shared by stage configs; builds backends by name
 5 evol          Math Evol-Instruct, ``solve``, the symbolic world (registers the ``symbolic``
                 backend); ``tiny`` (its tokenizer is trained on symbolic texts)
 6 reward_models IRM and PRM: data, training, scoring
 7 rewards       the RL reward (verifier, IRM, PRM terms)
 8 eval          benchmark evaluation, reranking, greedy accuracy
 9 train         SFT, PPO, GRPO (they evaluate while training)
10 top           ``pipeline`` and its ``pipeline_config``, ``pipeline_eval``, ``pipeline_state``,
                 ``pipeline_parallel``, ``pipeline_report``; ``cli``, ``__main__``
== ============= ==================================================================================

Usage: ``python scripts/import_graph.py [--root DIR] [--quiet]`` (``--quiet``: layers and problems only).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGES = ("wizardmath", "reward_models")
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "wizardmath",
            "wizardmath.jsonl",
            "wizardmath.runstate",
            "wizardmath.resume",
            "wizardmath.config",
            "wizardmath.checkpoints",
            "wizardmath.workers",
            "wizardmath.models",
            "wizardmath.distributed",
        ),
    ),
    ("verify", ("wizardmath.verify",)),
    ("data", ("wizardmath.data",)),
    ("backends", ("wizardmath.backends",)),
    ("args", ("wizardmath.args",)),
    ("evol", ("wizardmath.evol", "wizardmath.tiny")),
    ("reward_models", ("reward_models",)),
    ("rewards", ("wizardmath.rewards", "wizardmath.rewards_models", "wizardmath.reward_terms")),
    ("eval", ("wizardmath.eval",)),
    ("train", ("wizardmath.train",)),
    (
        "top",
        (
            "wizardmath.pipeline",
            "wizardmath.pipeline_config",
            "wizardmath.pipeline_eval",
            "wizardmath.pipeline_state",
            "wizardmath.pipeline_parallel",
            "wizardmath.pipeline_report",
            "wizardmath.cli",
            "wizardmath.__main__",
        ),
    ),
]


def find_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the packages under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports (anywhere in the file)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest prefix decides
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (
                module.startswith(prefix + ".") and prefix != "wizardmath"
            )  # the root is itself only
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository root")
    parser.add_argument("--quiet", action="store_true", help="print the layer graph and the problems only")
    args = parser.parse_args(argv)
    modules = find_modules(Path(args.root))
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    layers = {name: layer_of(name) for name in modules}
    names = [name for name, _ in LAYERS]

    if not args.quiet:
        print(f"# modules ({len(modules)}) and what each imports")
        for name in sorted(graph):
            print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    print("\n# layers, bottom to top, and the layers each imports (number of module imports)")
    arrows: dict[tuple[int, int], int] = defaultdict(int)
    for name, targets in graph.items():
        for target in targets:
            if layers[name] is not None and layers[target] is not None and layers[name] != layers[target]:
                arrows[(layers[name], layers[target])] += 1
    for number, (layer, _) in enumerate(LAYERS):
        members = sorted(n for n, lay in layers.items() if lay == number)
        uses = ", ".join(f"{names[b]} ({count})" for (a, b), count in sorted(arrows.items()) if a == number)
        print(f"{number:2d} {layer:<14} {len(members):3d} modules -> {uses or '-'}")

    problems = [
        f"no layer: {name} (add it to LAYERS in {Path(__file__).name})"
        for name in sorted(layers)
        if layers[name] is None
    ]
    for name in sorted(graph):
        for target in sorted(graph[name]):
            low, high = layers[name], layers[target]
            if low is not None and high is not None and high > low:
                problems.append(f"upward: {name} ({names[low]}) -> {target} ({names[high]})")
    problems += [f"cycle: {' <-> '.join(component)}" for component in cycles(graph)]
    print(f"\n# problems: {len(problems)}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
