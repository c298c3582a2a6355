#!/usr/bin/env bash
# The whole RLEIF loop, stage by stage: evolve, solve, SFT, IRM + PRM, PPO, eval. Each stage resumes
# when re-run (append-only JSONL, last checkpoint), so a crashed run is restarted with the same command.
#   scripts/run_rleif.sh OUT [SIZE]
# Tiny world on CPU:  scripts/run_rleif.sh runs/tiny-rleif            (the pipeline's stages, one by one)
# LLaMA-2 7B, 8 GPUs: NUM_GPUS=8 scripts/run_rleif.sh runs/7b llama2-7b
#   (evolution and solving go to the OpenAI-compatible server in configs/evolve/*.yaml)
set -euo pipefail
OUT=${1:?usage: $0 OUT [SIZE]}
SIZE=${2:-tiny}
cd "$(dirname "$0")/.."
if [[ "$SIZE" == "tiny" ]]; then
  # init-tiny, the held-out symbolic set (OUT/test.jsonl) and the base model's accuracy on it
  wizardmath pipeline --config configs/tiny/pipeline.yaml --output "$OUT" --stages base
  scripts/01_evolve.sh "$OUT" configs/tiny/evolve.yaml --decontaminate ../shared/data/gsm8k/test.jsonl \
    ../shared/data/math500/test.jsonl "$OUT/test.jsonl"
  scripts/02_solve.sh "$OUT" configs/tiny/solve.yaml
  scripts/03_sft.sh "$OUT" configs/tiny/sft.yaml "$OUT/base"
else
  scripts/01_evolve.sh "$OUT" configs/evolve/openai.yaml
  scripts/02_solve.sh "$OUT" configs/evolve/solve_openai.yaml
  scripts/03_sft.sh "$OUT" "configs/$SIZE/sft.yaml"
fi
scripts/03_reward_models.sh "$OUT" "$SIZE"
scripts/04_ppo.sh "$OUT" "configs/$SIZE/ppo.yaml"
if [[ "$SIZE" == "tiny" ]]; then
  wizardmath eval --model "$OUT/ppo" --dataset jsonl --data-path "$OUT/test.jsonl" --output "$OUT/eval/ppo" --name heldout
else
  scripts/05_eval.sh "$OUT/ppo" "$OUT/eval"
fi
