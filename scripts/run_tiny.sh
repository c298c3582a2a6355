#!/usr/bin/env bash
# The tiny world stage by stage: what `wizardmath pipeline --config configs/tiny/pipeline.yaml` does in
# one call, as separate commands a user can run, inspect and re-run (each resumes). CPU, minutes.
#   scripts/run_tiny.sh [OUT]
set -euo pipefail
OUT=${1:-runs/tiny-staged}
cd "$(dirname "$0")/.."
# init-tiny, the held-out symbolic test set (OUT/test.jsonl) and the base model's accuracy on it
wizardmath pipeline --config configs/tiny/pipeline.yaml --output "$OUT" --stages base
# evolution is decontaminated against the benchmark test sets and our held-out set
scripts/01_evolve.sh "$OUT" configs/tiny/evolve.yaml \
  --decontaminate ../shared/data/gsm8k/test.jsonl ../shared/data/math500/test.jsonl "$OUT/test.jsonl"
scripts/02_solve.sh "$OUT"
scripts/03_sft.sh "$OUT" configs/tiny/sft.yaml "$OUT/base"
wizardmath eval --model "$OUT/sft" --dataset jsonl --data-path "$OUT/test.jsonl" --output "$OUT/eval/sft" --name heldout
echo "held-out accuracy: $OUT/eval/sft/heldout.summary.json"
