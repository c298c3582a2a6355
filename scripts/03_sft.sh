#!/usr/bin/env bash
# Stage 3: supervised fine-tuning on verified step-by-step solutions.
#   scripts/03_sft.sh OUT [CONFIG] [MODEL]
# CPU / tiny:  scripts/03_sft.sh runs/tiny                      (configs/tiny/sft.yaml, runs/tiny/base)
# 8 GPUs:      NUM_GPUS=8 scripts/03_sft.sh runs/7b configs/llama2-7b/sft.yaml
# Resumes from the last checkpoint in OUT/sft when re-run.
set -euo pipefail
OUT=${1:?usage: $0 OUT [CONFIG] [MODEL]}
CONFIG=${2:-configs/tiny/sft.yaml}
MODEL=${3:-}
ARGS=(sft --config "$CONFIG" --data_path "$OUT/solve/sft.jsonl" --output "$OUT/sft")
if [[ -n "$MODEL" ]]; then ARGS+=(--model "$MODEL"); elif [[ -d "$OUT/base" ]]; then ARGS+=(--model "$OUT/base"); fi
if [[ "${NUM_GPUS:-0}" -gt 1 ]]; then
  ACCEL=${ACCELERATE_CONFIG:-configs/accelerate/deepspeed_zero2.yaml}
  exec accelerate launch --config_file "$ACCEL" --num_processes "$NUM_GPUS" -m wizardmath.cli "${ARGS[@]}"
fi
exec wizardmath "${ARGS[@]}"
