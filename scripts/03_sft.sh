#!/usr/bin/env bash
# Stage 3: supervised fine-tuning on verified step-by-step solutions.
#   scripts/03_sft.sh OUT [CONFIG] [MODEL]
# CPU / tiny:  scripts/03_sft.sh runs/tiny                      (configs/tiny/sft.yaml, runs/tiny/base)
# 8 GPUs:      NUM_GPUS=8 scripts/03_sft.sh runs/7b configs/llama2-7b/sft.yaml
# 1 GPU:       scripts/03_sft.sh runs/qwen-math-1.5b configs/qwen2.5-math-1.5b/sft.yaml
# Resumes from the last checkpoint in OUT/sft when re-run. ACCELERATE_CONFIG overrides the default
# (ZeRO-2 on one node; configs/accelerate/multi_node.yaml for several).
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
OUT=${1:?usage: $0 OUT [CONFIG] [MODEL]}
CONFIG=${2:-configs/tiny/sft.yaml}
MODEL=${3:-}
ARGS=(sft --config "$CONFIG" --data_path "$OUT/solve/sft.jsonl" --output "$OUT/sft")
if [[ -n "$MODEL" ]]; then ARGS+=(--model "$MODEL"); elif [[ -d "$OUT/base" ]]; then ARGS+=(--model "$OUT/base"); fi
if [[ "${NUM_GPUS:-0}" -gt 1 ]]; then
  ACCEL=configs/accelerate/deepspeed_zero2.yaml
  if (( NUM_GPUS > 8 )); then ACCEL=configs/accelerate/multi_node.yaml; fi  # every node: MACHINE_RANK, MASTER_ADDR set
  launch "${ACCELERATE_CONFIG:-$ACCEL}" "$NUM_GPUS" "${ARGS[@]}"
else
  wm "${ARGS[@]}"
fi
