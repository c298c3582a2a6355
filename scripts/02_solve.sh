#!/usr/bin/env bash
# Stage 2: verified step-by-step solutions (SFT data) for the evolved problems.
# Usage: scripts/02_solve.sh [OUT] [CONFIG] [extra flags...]   (reads OUT/evol/problems.jsonl)
#   scripts/02_solve.sh runs/tiny
#   scripts/02_solve.sh runs/gpt4 configs/evolve/solve_openai.yaml
#   scripts/02_solve.sh runs/qwen-7b configs/qwen2.5-7b/solve.yaml     # chat-template recipes
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
OUT=${1:-runs/tiny}
CONFIG=${2:-configs/tiny/solve.yaml}
shift $(( $# > 2 ? 2 : $# ))
wm solve --config "$CONFIG" --data-path "$OUT/evol/problems.jsonl" --output "$OUT/solve" "$@"
