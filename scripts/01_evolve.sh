#!/usr/bin/env bash
# Stage 1: Math Evol-Instruct. Usage: scripts/01_evolve.sh [OUT] [CONFIG] [extra flags...]
#   scripts/01_evolve.sh runs/tiny                                  # symbolic world, CPU, seconds
#   scripts/01_evolve.sh runs/gpt4 configs/evolve/openai.yaml       # GPT-4-class model over HTTP
# DRY_RUN=1: check the config and flags only (scripts/_lib.sh).
set -euo pipefail
source "$(dirname "$0")/_lib.sh"
OUT=${1:-runs/tiny}
CONFIG=${2:-configs/tiny/evolve.yaml}
shift $(( $# > 2 ? 2 : $# ))
wm evolve --config "$CONFIG" --output "$OUT/evol" "$@"
