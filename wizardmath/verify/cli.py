"""``wizardmath verify``: check one pair, or a JSONL file of pairs, from the command line.

    wizardmath verify --gold 3 --pred "so x = 3. The answer is: 3"
    wizardmath verify --input pairs.jsonl --output verdicts.jsonl --workers 4

One pair prints the verdict, the extracted answer and the reason, and exits 0 when equal, 1 when
not (so shell scripts can test it). A file reads lines ``{"id"?, "gold", "pred"}`` (``pred`` may be
a whole response) and writes ``{"id", "equal", "extracted", "reason"}`` per line, in input order;
it exits 0 and prints the accuracy. A bad input line raises ``wizardmath.jsonl.DataError`` naming
the file, line and field before anything is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from wizardmath.jsonl import DataError, iter_jsonl, write_jsonl


@dataclass
class VerifyConfig:
    """Flags of ``wizardmath verify``."""

    input: str | None = field(
        default=None, metadata={"help": "JSONL file of {id?, gold, pred} lines to check."}
    )
    output: str | None = field(
        default=None, metadata={"help": "Where to write verdict lines (default: print them to stdout)."}
    )
    gold: str | None = field(default=None, metadata={"help": "Gold answer of a single pair (with --pred)."})
    pred: str | None = field(
        default=None, metadata={"help": "Model answer or whole response of a single pair."}
    )
    workers: int = field(
        default=1, metadata={"help": "Worker processes for the symbolic comparisons of a file."}
    )
    timeout: float = field(default=2.0, metadata={"help": "Hard wall-clock seconds per symbolic comparison."})
    number_fallback: bool = field(
        default=True, metadata={"help": "Use the last number of a response that has no answer marker."}
    )

    def __post_init__(self) -> None:
        single = self.gold is not None or self.pred is not None
        if single and (self.gold is None or self.pred is None):
            raise ValueError("give both --gold and --pred for a single pair")
        if single == (self.input is not None):
            raise ValueError("give either --input FILE or --gold G --pred P")
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if not math.isfinite(self.timeout) or self.timeout <= 0:  # nan passes every comparison
            raise ValueError(f"--timeout must be a finite number of seconds > 0, got {self.timeout}")


def _read_pairs(path: str) -> tuple[list[object], list[tuple[str, str]]]:
    ids: list[object] = []
    pairs: list[tuple[str, str]] = []
    for number, record in iter_jsonl(path, required=("gold", "pred")):
        for name in ("gold", "pred"):
            value = record[name]
            if isinstance(value, int | float) and not isinstance(value, bool):
                record[name] = str(value)
            elif not isinstance(value, str):
                raise DataError(path, number, f"expected a string, got {type(value).__name__}", field=name)
        ids.append(record.get("id", number))
        pairs.append((record["gold"], record["pred"]))
    return ids, pairs


def verify_command(config: VerifyConfig) -> int:
    """Run the check the flags ask for; the exit code is described in the module docstring."""
    from wizardmath.verify import VerifyOptions, check, check_batch

    options = VerifyOptions(timeout=config.timeout, number_fallback=config.number_fallback)
    if config.input is None:
        verdict = check(config.gold, config.pred, options)
        print(f"equal: {verdict.equal}\nextracted: {verdict.extracted}\nreason: {verdict.reason}")
        return 0 if verdict.equal else 1
    ids, pairs = _read_pairs(config.input)
    if not pairs:
        raise ValueError(f"{config.input}: no pairs to check (empty input)")
    verdicts = check_batch(pairs, workers=config.workers, timeout=config.timeout, options=options)
    records = [
        {"id": rid, "equal": v.equal, "extracted": v.extracted, "reason": v.reason}
        for rid, v in zip(ids, verdicts, strict=True)
    ]
    if config.output:  # rewritten whole (atomically), so running the same check twice never doubles a file
        from wizardmath.runstate import OutputLock

        with OutputLock(config.output, "verify", folder=False):
            write_jsonl(config.output, records)
    else:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    correct = sum(v.equal for v in verdicts)
    print(f"{correct}/{len(verdicts)} equal" + (f"; verdicts in {config.output}" if config.output else ""))
    return 0
