#!/usr/bin/env bash
# Stage 3: the RLEIF reward models. Usage: scripts/03_reward_models.sh [OUT] [SIZE] [extra flags...]
#   scripts/03_reward_models.sh runs/tiny                  # tiny world, CPU, a few minutes
#   scripts/03_reward_models.sh runs/llama2-7b llama2-7b   # 8 GPUs: accelerate + DeepSpeed ZeRO-3
# Needs OUT/evol (01_evolve.sh) and OUT/sft (the SFT stage). Writes OUT/irm, OUT/prm_labels.jsonl
# and OUT/prm. Every step resumes when run again (labels skip written ids, training resumes from
# the last checkpoint).
set -euo pipefail
OUT=${1:-runs/tiny}
SIZE=${2:-tiny}
shift $(( $# > 2 ? 2 : $# ))
if [[ "$SIZE" == "tiny" ]]; then
  RUN=(wizardmath)
else
  RUN=(accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml -m wizardmath.cli)
fi
# Instruction Reward Model: evolved candidates grouped by parent, ranked, Bradley-Terry.
"${RUN[@]}" train-irm --config "configs/$SIZE/irm.yaml" --model "$OUT/sft" --data-path "$OUT/evol" --output "$OUT/irm" "$@"
# Step labels: the SFT model's own solutions, labelled by the verifier's step checks + final answer.
LABEL_CONFIG="configs/$SIZE/label_prm.yaml"
[[ -f "$LABEL_CONFIG" ]] || LABEL_CONFIG=configs/tiny/label_prm.yaml
wizardmath label-prm --config "$LABEL_CONFIG" --model "$OUT/sft" --data-path "$OUT/evol/problems.jsonl" --output "$OUT/prm_labels.jsonl"
# Process-supervised Reward Model: token classification at the step separators.
"${RUN[@]}" train-prm --config "configs/$SIZE/prm.yaml" --model "$OUT/sft" --data-path "$OUT/prm_labels.jsonl" --output "$OUT/prm" "$@"
