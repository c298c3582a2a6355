"""Preference pairs for the Instruction Reward Model, from Math Evol-Instruct output.

WizardMath's IRM learned from rankings of the evolved variants of one problem. Here:

1. read ``problems.jsonl`` (accepted) and ``rejected.jsonl`` from an evolution run and group every
   candidate by ``parent_id`` (the parent itself joins its group when present);
2. rank each group with a judge (``JUDGES``):
   - ``symbolic`` (offline): the facts the symbolic backend knows, in ``meta`` (or recomputed by
     parsing the text): well-posed > ill-posed, consistent > contradictory, and among solvable
     problems harder (more steps) > easier. Ties give no pair.
   - ``llm``: any backend with the rubric in ``prompts/irm_judge.txt`` (definition, precision,
     integrity, difficulty), answered as ``Ranking: 2 > 1 > 3``.
   - ``eliminator`` (offline, any data): the evolution's own verdicts: an accepted problem (or the
     seed) > a rejected one > a refusal or leaked template. A weaker signal than a judge's ranking
     (no order among accepted siblings), for when no judge model can rank (a 135M judge answers
     no parseable ranking).
3. emit TRL preference pairs ``{"chosen": problem_a, "rejected": problem_b, "group": parent_id}``
   for every ordered pair of candidates with different ranks. ``group`` lets training hold out
   whole groups, so evaluation is on problems never seen in training.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wizardmath.jsonl import DataError, iter_jsonl

PROMPTS = Path(__file__).parent / "prompts"  # judge rubrics: data, not code

Candidate = dict[str, Any]


def load_candidates(source: str | Path) -> list[Candidate]:
    """Accepted and rejected records of an evolution run (a folder, or one JSONL file)."""
    source = Path(source)
    files = [source / "problems.jsonl", source / "rejected.jsonl"] if source.is_dir() else [source]
    if source.is_dir() and not files[0].is_file():
        raise FileNotFoundError(f"{source}: no problems.jsonl (point data_path at an evolve --output folder)")
    out = []
    for path in files:
        if not path.is_file():
            continue
        for line, row in iter_jsonl(path, required=("id", "problem")):
            if not isinstance(row["problem"], str) or not row["problem"].strip():
                raise DataError(path, line, "empty or not a string", field="problem")
            out.append(
                {
                    **row,
                    "accepted": path.name != "rejected.jsonl" and "reason" not in row,
                    "where": f"{path}:{line}",
                }
            )
    return out


def group_candidates(
    candidates: Sequence[Candidate], include_parent: bool = True, min_size: int = 2
) -> dict[str, list[Candidate]]:
    """Candidates by parent id, deduplicated by text; groups smaller than ``min_size`` are dropped."""
    by_id = {c["id"]: c for c in candidates}
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.get("parent_id") is not None:
            groups[str(c["parent_id"])].append(c)
    out = {}
    for parent, members in groups.items():
        if include_parent and parent in by_id:
            members = [by_id[parent], *members]
        seen, unique = set(), []
        for m in members:
            key = " ".join(m["problem"].split())
            if key not in seen:
                seen.add(key)
                unique.append(m)
        if len(unique) >= min_size:
            out[parent] = unique
    return out


# ------------------------------------------------------------------------------------------ judges


def symbolic_facts(candidate: Candidate) -> tuple[bool, bool, int] | None:
    """(well_posed, consistent, difficulty) from ``meta`` or, failing that, by parsing the text."""
    meta = candidate.get("meta") or {}
    if "well_posed" in meta or "consistent" in meta:
        well = bool(meta.get("well_posed", True))
        consistent = bool(meta.get("consistent", True))
        return well, consistent, int(meta.get("difficulty") or 0)
    try:
        from wizardmath.evol.world import gold_steps, parse
    except ImportError:
        return None
    wp = parse(candidate["problem"])
    if wp is None:
        return None
    well = wp.start is not None
    return well, well and gold_steps(wp) is not None, wp.difficulty


BROKEN = ("refusal", "template_leak")  # not a problem at all: worse than any problem


def symbolic_rank(group: Sequence[Candidate]) -> list[float | None]:
    """Higher is better; ``None`` for candidates the symbolic world cannot read (no pairs for them)."""
    scores: list[float | None] = []
    for c in group:
        if (c.get("meta") or {}).get("failure") in BROKEN or c.get("reason") in BROKEN:
            scores.append(-3.0)
            continue
        facts = symbolic_facts(c)
        if facts is None:
            scores.append(None)
            continue
        well, consistent, difficulty = facts
        if not well:
            scores.append(-2.0)
        elif not consistent:
            scores.append(-1.0)
        else:
            scores.append(float(difficulty))
    return scores


_RANKING = re.compile(r"(?i)ranking\s*:?\s*([\d\s>,]+)")


def parse_ranking(text: str, size: int) -> list[int] | None:
    """Candidate indices (0-based) best first from ``Ranking: 2 > 1 > 3``; ``None`` unless complete."""
    match = _RANKING.search(text) or re.search(r"(\d+(?:\s*>\s*\d+)+)", text)
    if not match:
        return None
    order = [int(n) - 1 for n in re.findall(r"\d+", match.group(1))]
    return order if sorted(order) == list(range(size)) else None


class LLMRanker:
    """Ranks each group with one judge call through any backend (rubric prompt)."""

    def __init__(self, backend: Any, prompt_file: str | None = None, max_new_tokens: int = 64):
        from wizardmath.backends import SamplingParams

        self.backend = backend
        self.template = (
            Path(prompt_file).read_text() if prompt_file else (PROMPTS / "irm_judge.txt").read_text()
        )
        self.sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)

    def rank_groups(self, groups: Sequence[Sequence[Candidate]]) -> list[list[float | None]]:
        prompts = []
        for group in groups:
            listing = "\n".join(f"{i}. {c['problem']}" for i, c in enumerate(group, start=1))
            prompts.append([{"role": "user", "content": self.template.format(candidates=listing)}])
        out = []
        for group, gens in zip(groups, self.backend.generate(prompts, self.sampling), strict=True):
            order = parse_ranking(gens[0].text if gens else "", len(group))
            if order is None:
                out.append([None] * len(group))
                continue
            scores: list[float | None] = [0.0] * len(group)
            for position, index in enumerate(order):
                scores[index] = float(len(group) - position)
            out.append(scores)
        return out


JUDGES = ("symbolic", "llm", "eliminator")


def eliminator_rank(group: Sequence[Candidate]) -> list[float | None]:
    """The eliminator's verdicts as ranks: accepted (or the seed) 1, rejected 0, not a problem -1."""
    ranks: list[float | None] = []
    for c in group:
        if (c.get("meta") or {}).get("failure") in BROKEN or c.get("reason") in BROKEN:
            ranks.append(-1.0)
        else:
            ranks.append(1.0 if c["accepted"] else 0.0)
    return ranks


def build_pairs(
    groups: dict[str, list[Candidate]],
    judge: str = "symbolic",
    backend: Any = None,
    max_pairs_per_group: int | None = 16,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Preference pairs from ranked groups (see the module docstring)."""
    if judge not in JUDGES:
        raise ValueError(f"unknown IRM judge '{judge}'; valid: {', '.join(JUDGES)}")
    names = sorted(groups)
    if judge == "symbolic":
        ranks = [symbolic_rank(groups[n]) for n in names]
    elif judge == "eliminator":
        ranks = [eliminator_rank(groups[n]) for n in names]
    else:
        if backend is None:
            raise ValueError("the llm judge needs a backend (set judge_backend / judge_model)")
        ranks = LLMRanker(backend).rank_groups([groups[n] for n in names])
    rng = random.Random(seed)
    pairs = []
    for name, scores in zip(names, ranks, strict=True):
        group = groups[name]
        found = []
        for i, j in itertools.combinations(range(len(group)), 2):
            a, b = scores[i], scores[j]
            if a is None or b is None or a == b:
                continue
            win, lose = (i, j) if a > b else (j, i)
            found.append((win, lose))
        if max_pairs_per_group is not None and len(found) > max_pairs_per_group:
            found = rng.sample(found, max_pairs_per_group)
        for win, lose in found:
            pairs.append(
                {
                    "id": f"{name}/{group[win]['id']}>{group[lose]['id']}",
                    "chosen": group[win]["problem"],
                    "rejected": group[lose]["problem"],
                    "group": name,
                }
            )
    return pairs


def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """A TRL preference file (``chosen``/``rejected`` strings, optional ``prompt``, ``group``)."""
    out = []
    for line, row in iter_jsonl(path, required=("chosen", "rejected")):
        for name in ("chosen", "rejected"):
            if not isinstance(row[name], str) or not row[name].strip():
                raise DataError(
                    path, line, "expected a non-empty string (implicit-prompt preference format)", field=name
                )
        prompt = row.get("prompt") or ""
        out.append(
            {
                "chosen": prompt + row["chosen"],
                "rejected": prompt + row["rejected"],
                "group": str(row.get("group") or row.get("id") or f"{line}"),
            }
        )
    return out


def pairs_from(
    source: str,
    judge: str = "symbolic",
    backend_factory: Callable[[], Any] | None = None,
    max_pairs_per_group: int | None = 16,
    include_parent: bool = True,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], bool]:
    """Pairs from an evolution folder (built here) or a pairs file; the flag says they were built."""
    path = Path(source)
    if path.is_dir() or (path.is_file() and _looks_like_candidates(path)):
        groups = group_candidates(load_candidates(path), include_parent)
        backend = backend_factory() if judge == "llm" and backend_factory else None
        return build_pairs(groups, judge, backend, max_pairs_per_group, seed), True
    return read_pairs(path), False


def _looks_like_candidates(path: Path) -> bool:
    for _, row in iter_jsonl(path):
        return "problem" in row and "chosen" not in row
    return False
