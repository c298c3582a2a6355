#!/usr/bin/env bash
# Stage 1: Math Evol-Instruct. Usage: scripts/01_evolve.sh [OUT] [CONFIG] [extra flags...]
#   scripts/01_evolve.sh runs/tiny                                  # symbolic world, CPU, seconds
#   scripts/01_evolve.sh runs/gpt4 configs/evolve/openai.yaml       # GPT-4-class model over HTTP
set -euo pipefail
OUT=${1:-runs/tiny}
CONFIG=${2:-configs/tiny/evolve.yaml}
shift $(( $# > 2 ? 2 : $# ))
wizardmath evolve --config "$CONFIG" --output "$OUT/evol" "$@"
