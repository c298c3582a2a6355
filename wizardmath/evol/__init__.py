"""Math Evol-Instruct: evolve seed problems up and down over rounds, then write verified solutions.

``evolve(EvolveConfig(...))`` -> ``DIR/problems.jsonl`` (+ ``rejected.jsonl``, ``stats.json``);
``solve(SolveConfig(...))`` -> ``DIR/sft.jsonl`` (TRL prompt/completion). The symbolic world
(``wizardmath.evol.symbolic``) makes both run offline with exact answers.
"""

from wizardmath.backends import register_backend
from wizardmath.evol.config import EvolveConfig, SolveConfig
from wizardmath.evol.rounds import evolve
from wizardmath.evol.solve import solve

# The registry sits below this package and does not name it; importing any wizardmath.evol module
# runs this line first, so ``backend: symbolic`` works wherever a config is read.
register_backend("symbolic", "wizardmath.evol.symbolic:SymbolicBackend")

__all__ = ["EvolveConfig", "SolveConfig", "evolve", "solve"]
