#!/usr/bin/env bash
# Stage 5: evaluate a model on GSM8k and MATH-500 (greedy pass@1, the paper's metric).
#   scripts/05_eval.sh MODEL OUT [DATA_DIR]
# DATA_DIR holds gsm8k/test.jsonl and math500/test.jsonl (default ../shared/data); without the
# files, the hub copies are used. Resumes: ids already in OUT/<dataset>.jsonl are skipped.
# Against a server instead: BASE_URL=http://localhost:8000/v1 scripts/05_eval.sh served-model-name OUT
set -euo pipefail
MODEL=${1:?usage: $0 MODEL OUT [DATA_DIR]}
OUT=${2:?usage: $0 MODEL OUT [DATA_DIR]}
DATA=${3:-../shared/data}
EXTRA=()
if [[ -n "${BASE_URL:-}" ]]; then EXTRA+=(--base-url "$BASE_URL"); fi
if [[ -n "${LIMIT:-}" ]]; then EXTRA+=(--limit "$LIMIT"); fi
for pair in gsm8k:gsm8k/test.jsonl math500:math500/test.jsonl; do
  name=${pair%%:*}; file="$DATA/${pair#*:}"
  if [[ -f "$file" ]]; then
    wizardmath eval --model "$MODEL" --dataset "$name" --data-path "$file" --output "$OUT" "${EXTRA[@]}"
  else
    wizardmath eval --model "$MODEL" --dataset "$name" --output "$OUT" "${EXTRA[@]}"
  fi
done
