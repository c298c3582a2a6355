#!/usr/bin/env bash
# Stage 4: reinforcement learning of the SFT model with the RLEIF reward (PPO; GRPO as the alternative).
#   scripts/04_ppo.sh OUT [CONFIG] [extra flags...]
# CPU / tiny:  scripts/04_ppo.sh runs/tiny                                   (configs/tiny/ppo.yaml, minutes)
# GRPO:        ALGO=grpo scripts/04_ppo.sh runs/tiny                         (configs/tiny/grpo.yaml)
# 8 GPUs:      NUM_GPUS=8 scripts/04_ppo.sh runs/7b configs/llama2-7b/ppo.yaml   (ZeRO-2 + vLLM)
#              NUM_GPUS=8 ACCELERATE_CONFIG=configs/accelerate/deepspeed_zero3.yaml scripts/04_ppo.sh runs/13b configs/llama2-13b/ppo.yaml
# Reads OUT/sft (03_sft.sh), OUT/evol/problems.jsonl (01_evolve.sh), OUT/test.jsonl (held-out set,
# when present) and OUT/irm, OUT/prm (03_reward_models.sh; used when the config's reward_funcs list
# irm/prm). Writes OUT/ppo (or OUT/grpo): the policy (save_pretrained), checkpoints, metrics.jsonl
# and a summary with held-out accuracy before and after. Re-running resumes from the last checkpoint.
set -euo pipefail
OUT=${1:?usage: $0 OUT [CONFIG] [extra flags...]}
ALGO=${ALGO:-ppo}
CONFIG=${2:-configs/tiny/$ALGO.yaml}
shift $(( $# > 2 ? 2 : $# ))
ARGS=("$ALGO" --config "$CONFIG" --model "$OUT/sft" --data_path "$OUT/evol/problems.jsonl" --output "$OUT/$ALGO")
if [[ -f "$OUT/test.jsonl" ]]; then ARGS+=(--eval_data_path "$OUT/test.jsonl"); fi
if [[ -d "$OUT/irm" ]]; then ARGS+=(--irm_path "$OUT/irm"); fi
if [[ -d "$OUT/prm" ]]; then ARGS+=(--prm_path "$OUT/prm"); fi
if [[ "${NUM_GPUS:-0}" -gt 1 ]]; then
  ACCEL=${ACCELERATE_CONFIG:-configs/accelerate/deepspeed_zero2.yaml}
  exec accelerate launch --config_file "$ACCEL" --num_processes "$NUM_GPUS" -m wizardmath.cli "${ARGS[@]}" "$@"
fi
exec wizardmath "${ARGS[@]}" "$@"
