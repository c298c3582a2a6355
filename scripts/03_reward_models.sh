#!/usr/bin/env bash
# Stage 3: the RLEIF reward models. Usage: scripts/03_reward_models.sh [OUT] [SIZE] [extra flags...]
#   scripts/03_reward_models.sh runs/tiny                  # tiny world, CPU, a few minutes
#   scripts/03_reward_models.sh runs/7b llama2-7b          # 8 GPUs: accelerate + DeepSpeed ZeRO-3
#   RM_MODEL=runs/7b/sft scripts/03_reward_models.sh runs/70b llama2-70b   # 7B reward models for a 70B policy
#   scripts/03_reward_models.sh runs/qwen-math-1.5b qwen2.5-math-1.5b      # one GPU (the recipe's 1-GPU size)
# Needs OUT/evol (01_evolve.sh) and OUT/sft (the SFT stage). Writes OUT/irm, OUT/prm_labels.jsonl
# and OUT/prm with configs/SIZE/{irm,label_prm,prm}.yaml. Every step resumes when run again (labels
# skip written ids, training resumes from the last checkpoint). DRY_RUN=1: check configs and flags only.
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
OUT=${1:-runs/tiny}
SIZE=${2:-tiny}
shift $(( $# > 2 ? 2 : $# ))
# 13B and 70B policies get 7B reward models (their irm/prm configs say so): the base must be named.
case "$SIZE" in
  llama2-13b|llama2-70b) RM_MODEL=${RM_MODEL:?"$SIZE trains 7B reward models: set RM_MODEL (e.g. RM_MODEL=runs/7b/sft)"} ;;
  *) RM_MODEL=${RM_MODEL:-$OUT/sft} ;;
esac
for stage in irm label_prm prm; do
  [[ -f "configs/$SIZE/$stage.yaml" ]] || { echo "configs/$SIZE/$stage.yaml: missing (every recipe has one)" >&2; exit 2; }
done
train() {  # one process on CPU and for one-GPU recipes, else DeepSpeed ZeRO-3 over the node's GPUs
  if [[ "$SIZE" == "tiny" || "$SIZE" == "smol" || "${NUM_GPUS:-8}" -le 1 || "$SIZE" == qwen2.5-math-1.5b ]]; then wm "$@"
  else launch "${ACCELERATE_CONFIG:-configs/accelerate/deepspeed_zero3.yaml}" "${NUM_GPUS:-}" "$@"; fi
}
# Instruction Reward Model: evolved candidates grouped by parent, ranked, Bradley-Terry.
train train-irm --config "configs/$SIZE/irm.yaml" --model "$RM_MODEL" --data-path "$OUT/evol" --output "$OUT/irm" "$@"
# Step labels: the SFT model's own solutions, labelled by the recipe's labeller (rule for tiny, Monte-Carlo at scale).
wm label-prm --config "configs/$SIZE/label_prm.yaml" --model "$OUT/sft" --data-path "$OUT/evol/problems.jsonl" \
  --output "$OUT/prm_labels.jsonl"
# Process-supervised Reward Model: token classification at the step separators.
train train-prm --config "configs/$SIZE/prm.yaml" --model "$RM_MODEL" --data-path "$OUT/prm_labels.jsonl" --output "$OUT/prm" "$@"
