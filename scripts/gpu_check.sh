#!/usr/bin/env bash
# The GPU check: SFT (bf16), IRM, PRM, PPO under DeepSpeed ZeRO-2 and ZeRO-3, GRPO and eval of a ~28M-parameter
# init-tiny model on one CUDA device, printing each stage's time, tokens/s and peak GPU memory; exit 0 only
# if every stage ran. No network: the model, tokenizer and data are built locally. <= 8 minutes on one H200.
#   scripts/gpu_check.sh                         # CUDA when present, else the CPU version (tiny, a few steps)
#   scripts/gpu_check.sh --out /tmp/gc --device cpu
# Needs torch, transformers, accelerate, peft, trl, datasets and deepspeed (pip install -e '.[deepspeed]'). On a
# machine without network, WHEELS=DIR installs the missing ones (and this project) from wheels in DIR first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}  # the interpreter that has the project (a venv's python when it is not on PATH)
if [[ -n "${WHEELS:-}" ]]; then "$PYTHON" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" scripts/gpu_check.py "$@"
