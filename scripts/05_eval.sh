#!/usr/bin/env bash
# Stage 5: evaluate a model on GSM8k (1,319) and full MATH (5,000), greedy pass@1 as in the paper's table.
#   scripts/05_eval.sh MODEL OUT [DATA_DIR] [CONFIG]
# DATA_DIR holds gsm8k/test.jsonl and math/test.jsonl (default ../shared/data); a missing file means the
# hub copy. CONFIG is the recipe's eval.yaml (template, backend, tensor parallelism); default: the
# WizardMath template on the transformers backend. DATASETS="gsm8k math500 svamp ..." evaluates others
# (wizardmath/data/benchmarks.py lists them). Resumes: ids already in OUT/<dataset>.jsonl are skipped.
# Against a server instead: BASE_URL=http://localhost:8000/v1 scripts/05_eval.sh served-model-name OUT
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
MODEL=${1:?usage: $0 MODEL OUT [DATA_DIR] [CONFIG]}
OUT=${2:?usage: $0 MODEL OUT [DATA_DIR] [CONFIG]}
DATA=${3:-../shared/data}
CONFIG=${4:-}
EXTRA=()
if [[ -n "$CONFIG" ]]; then EXTRA+=(--config "$CONFIG"); fi
if [[ -n "${BASE_URL:-}" ]]; then EXTRA+=(--backend openai --base-url "$BASE_URL"); fi
if [[ -n "${LIMIT:-}" ]]; then EXTRA+=(--limit "$LIMIT"); fi
for name in ${DATASETS:-gsm8k math}; do
  file="$DATA/$name/test.jsonl"
  if [[ -f "$file" ]]; then
    wm eval --model "$MODEL" --dataset "$name" --data-path "$file" --output "$OUT" "${EXTRA[@]}"
  else
    wm eval --model "$MODEL" --dataset "$name" --output "$OUT" "${EXTRA[@]}"
  fi
done
