#!/usr/bin/env bash
# Stage 2: verified step-by-step solutions (SFT data) for the evolved problems.
# Usage: scripts/02_solve.sh [OUT] [CONFIG] [extra flags...]   (reads OUT/evol/problems.jsonl)
#   scripts/02_solve.sh runs/tiny
#   scripts/02_solve.sh runs/gpt4 configs/evolve/solve_openai.yaml
set -euo pipefail
OUT=${1:-runs/tiny}
CONFIG=${2:-configs/tiny/solve.yaml}
shift $(( $# > 2 ? 2 : $# ))
wizardmath solve --config "$CONFIG" --data-path "$OUT/evol/problems.jsonl" --output "$OUT/solve" "$@"
