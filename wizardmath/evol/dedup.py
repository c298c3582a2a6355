"""Near-duplicate detection (normalised text + MinHash LSH) and test-set decontamination (n-gram overlap).

Both work on a normalised form of the text (lower case, punctuation and LaTeX markup to spaces,
whitespace collapsed), so "What is 2+2?" and "what is 2 + 2" are the same problem.

- ``NearDuplicateIndex``: exact match on the normalised text, then MinHash LSH over word 3-gram
  shingles at a Jaccard ``threshold`` (``datasketch``). Only accepted problems are added, so a
  rejected candidate never blocks a later one.
- ``ContaminationIndex``: every word n-gram of the test problems (n = 13 by default, the usual
  decontamination size); a candidate is contaminated when it equals a test problem or the
  fraction of its n-grams found in the test set is above ``threshold`` (0.0: any shared n-gram).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

_MARKUP = re.compile(r"\\[a-zA-Z]+|[^\w\s]|_")
_SPACES = re.compile(r"\s+")
PROBLEM_FIELDS = ("problem", "question", "instruction", "prompt")


def normalize(text: str) -> str:
    """Lower case, LaTeX commands and punctuation to spaces, whitespace collapsed."""
    return _SPACES.sub(" ", _MARKUP.sub(" ", text.lower())).strip()


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """Word n-grams of the normalised text (the whole text as one gram when it is shorter than n)."""
    words = normalize(text).split()
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class NearDuplicateIndex:
    """Accepted problems; ``find(text)`` returns the id of an (almost) identical one, or None."""

    def __init__(self, threshold: float = 0.9, num_perm: int = 64, shingle: int = 3):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(
                f"dedup threshold must be in (0, 1], got {threshold} (1.0 = exact duplicates only)"
            )
        self.threshold, self.num_perm, self.shingle = threshold, num_perm, shingle
        self.exact: dict[str, str] = {}
        self._lsh = None
        if threshold < 1.0:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._hashes: dict[str, object] = {}
        self._rank: dict[str, int] = {}  # id -> how many were added before it
        self._permutations = None
        self._last: tuple[str, object] | None = None  # find() then add() of the same text hashes once

    def _minhash(self, text: str):
        from datasketch import MinHash

        if self._last is not None and self._last[0] == text:
            return self._last[1]
        if self._permutations is None:  # made once: building them is most of MinHash()'s cost
            first = MinHash(num_perm=self.num_perm, seed=1)
            self._permutations = (first.permutations, first.scheme)
        m = MinHash(
            num_perm=self.num_perm, seed=1, permutations=self._permutations[0], scheme=self._permutations[1]
        )
        m.update_batch([" ".join(g).encode() for g in word_ngrams(text, self.shingle)])
        self._last = (text, m)
        return m

    def find(self, text: str, among_first: int | None = None) -> str | None:
        """The earliest added problem (of the first ``among_first``, or all) that ``text`` nearly repeats."""
        limit = len(self._rank) if among_first is None else among_first
        key = normalize(text)
        if key in self.exact and self._rank[self.exact[key]] < limit:
            return self.exact[key]
        if self._lsh is None:
            return None
        m = self._minhash(text)
        # LSH candidates are approximate and come in no fixed order: check each, keep the earliest.
        found = [
            other
            for other in self._lsh.query(m)
            if self._rank[other] < limit and m.jaccard(self._hashes[other]) >= self.threshold
        ]
        return min(found, key=self._rank.__getitem__, default=None)

    def add(self, id: str, text: str) -> None:
        key = normalize(text)
        if key in self.exact or id in self._hashes:
            return
        self.exact[key] = id
        self._rank[id] = len(self._rank)
        if self._lsh is not None:
            m = self._minhash(text)
            self._lsh.insert(id, m)
            self._hashes[id] = m

    def __len__(self) -> int:
        return len(self.exact)


class ContaminationIndex:
    """N-grams of test sets; ``check(text)`` returns the overlap reason or None."""

    def __init__(self, texts: Iterable[str] = (), n: int = 13, threshold: float = 0.0):
        if n < 1:
            raise ValueError(f"decontamination n-gram size must be >= 1, got {n}")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"decontamination threshold must be in [0, 1), got {threshold}")
        self.n, self.threshold = n, threshold
        self.grams: set[tuple[str, ...]] = set()
        self.exact: set[str] = set()
        self.sources: list[str] = []
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        self.exact.add(normalize(text))
        self.grams.update(word_ngrams(text, self.n))

    def add_file(self, path: str | Path) -> int:
        """Add the problems of a JSONL test file (field problem/question/...); returns how many."""
        from wizardmath.jsonl import DataError, iter_jsonl

        count = 0
        for line, record in iter_jsonl(path):
            text = next((record[f] for f in PROBLEM_FIELDS if isinstance(record.get(f), str)), None)
            if text is None:
                raise DataError(
                    path, line, f"no problem text (looked for {', '.join(PROBLEM_FIELDS)})", field="problem"
                )
            self.add(text)
            count += 1
        self.sources.append(str(path))
        return count

    def check(self, text: str) -> str | None:
        if not self.exact:
            return None
        if normalize(text) in self.exact:
            return "identical to a test problem"
        grams = word_ngrams(text, self.n)
        if not grams:
            return None
        overlap = len(grams & self.grams) / len(grams)
        if overlap > self.threshold:
            return f"{overlap:.0%} of its {self.n}-grams appear in the test sets"
        return None


def contamination_index(paths: Iterable[str], n: int = 13, threshold: float = 0.0) -> ContaminationIndex:
    """An index over the test files; a missing one is an error.

    ``decontaminate: false`` turns the check off."""
    index = ContaminationIndex(n=n, threshold=threshold)
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"{path}: decontamination test set not found (fix the path in 'decontaminate', "
                "or set decontaminate: false to evolve without the check)"
            )
        count = index.add_file(path)
        logger.info("decontamination: %d problems from %s", count, path)
    return index
