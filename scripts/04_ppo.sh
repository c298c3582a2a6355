#!/usr/bin/env bash
# Stage 4: reinforcement learning of the SFT model with the RLEIF reward (PPO; GRPO as the alternative).
#   scripts/04_ppo.sh OUT [CONFIG] [extra flags...]
# CPU / tiny:  scripts/04_ppo.sh runs/tiny                                   (configs/tiny/ppo.yaml, minutes)
# GRPO:        ALGO=grpo scripts/04_ppo.sh runs/tiny                         (configs/tiny/grpo.yaml)
# 8 GPUs:      NUM_GPUS=8 scripts/04_ppo.sh runs/7b configs/llama2-7b/ppo.yaml        (ZeRO-3 + vLLM)
#              NUM_GPUS=8 ALGO=grpo scripts/04_ppo.sh runs/7b configs/llama2-7b/grpo.yaml
# Reads OUT/sft (03_sft.sh), OUT/evol/problems.jsonl (01_evolve.sh) and OUT/irm, OUT/prm
# (03_reward_models.sh; used when the config's reward_funcs list irm/prm). The held-out set is
# OUT/test.jsonl when present (the tiny world's), else a validation split of the problems' lineages
# (OUT/rl/val.jsonl, 500 problems; training then reads OUT/rl/train.jsonl): never a benchmark's test set.
# The accelerate config follows the config's zero_stage, and the multi-node ones above 8 GPUs
# (NUM_GPUS=32 MACHINE_RANK=r MASTER_ADDR=host on every node; ACCELERATE_CONFIG overrides the choice). Writes OUT/ppo
# (or OUT/grpo). Re-running resumes from the last checkpoint. DRY_RUN=1: check config and flags only.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
OUT=${1:?usage: $0 OUT [CONFIG] [extra flags...]}
ALGO=${ALGO:-ppo}
CONFIG=${2:-configs/tiny/$ALGO.yaml}
shift $(( $# > 2 ? 2 : $# ))
PROBLEMS="$OUT/evol/problems.jsonl"
HELD_OUT="$OUT/test.jsonl"
if [[ ! -f "$HELD_OUT" ]]; then
  HELD_OUT="$OUT/rl/val.jsonl"
  if [[ "${DRY_RUN:-0}" != 1 && ! -f "$HELD_OUT" ]]; then python -m wizardmath.data.splits "$PROBLEMS" "$OUT/rl" --size 500; fi
  PROBLEMS="$OUT/rl/train.jsonl"
fi
ARGS=("$ALGO" --config "$CONFIG" --model "$OUT/sft" --data_path "$PROBLEMS" --output "$OUT/$ALGO" --eval_data_path "$HELD_OUT")
if [[ -d "$OUT/irm" ]]; then ARGS+=(--irm_path "$OUT/irm"); fi
if [[ -d "$OUT/prm" ]]; then ARGS+=(--prm_path "$OUT/prm"); fi
if [[ "${NUM_GPUS:-0}" -gt 1 ]]; then
  ZERO=$(sed -n 's/^zero_stage: *\([0-9]\).*/\1/p' "$CONFIG")
  SIBLING="$(dirname "$CONFIG")/ppo.yaml"  # GRPO configs have no zero_stage: the recipe's PPO plan decides
  if [[ -z "$ZERO" && -f "$SIBLING" ]]; then ZERO=$(sed -n 's/^zero_stage: *\([0-9]\).*/\1/p' "$SIBLING"); fi
  case "${ZERO:-2}" in 2|3) ACCEL=configs/accelerate/deepspeed_zero${ZERO:-2}.yaml ;; *) ACCEL=configs/accelerate/multi_gpu.yaml ;; esac
  if (( NUM_GPUS > 8 )); then  # several nodes (70B: 32 GPUs, optimizer states in CPU RAM when the config says so)
    ACCEL=configs/accelerate/multi_node.yaml
    if grep -q '^offload_optimizer: *true' "$CONFIG"; then ACCEL=configs/accelerate/multi_node_offload.yaml; fi
  fi
  launch "${ACCELERATE_CONFIG:-$ACCEL}" "$NUM_GPUS" "${ARGS[@]}" "$@"
else
  wm "${ARGS[@]}" "$@"
fi
