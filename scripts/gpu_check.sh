#!/usr/bin/env bash
# The GPU check: SFT (bf16), IRM, PRM, PPO under DeepSpeed ZeRO-2 and ZeRO-3, GRPO and eval of a ~28M-parameter
# init-tiny model on one CUDA device, printing each stage's time, tokens/s and peak GPU memory; exit 0 only
# if every stage ran. No network: the model, tokenizer and data are built locally. <= 8 minutes on one H200.
# Then, on CUDA only, the side-by-side benchmarks on the check's SFT model (OUT/sft), each printing its ratios
# against what users would run instead (docs/performance.md; a few more minutes; BENCH=0 skips them):
# wizardmath eval vs lm-evaluation-harness's gsm8k task, PPO/GRPO steps vs TRL's GRPOTrainer, and the
# paper's reward (IRM x PRM x verifier) vs the verifier alone.
#   scripts/gpu_check.sh                         # CUDA when present, else the CPU version (tiny, a few steps)
#   scripts/gpu_check.sh --out /tmp/gc --device cpu
# Needs torch, transformers, accelerate, peft, trl, datasets and deepspeed (pip install -e '.[deepspeed]'); the
# lm-eval comparison needs lm-eval (pip install -e '.[bench]') and is skipped without it. On a machine without
# network, WHEELS=DIR installs the missing ones (and this project) from wheels in DIR first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}  # the interpreter that has the project (a venv's python when it is not on PATH)
if [[ -n "${WHEELS:-}" ]]; then "$PYTHON" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
"$PYTHON" scripts/gpu_check.py "$@" || status=$?

OUT=runs/gpu_check DEVICE=auto  # the check's own defaults, read back from its arguments
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --out) OUT=${args[i + 1]:-$OUT} ;;
    --out=*) OUT=${args[i]#--out=} ;;
    --device) DEVICE=${args[i + 1]:-$DEVICE} ;;
    --device=*) DEVICE=${args[i]#--device=} ;;
  esac
done
has_cuda() { "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; }
if [[ ${BENCH:-1} == 0 || $DEVICE == cpu ]] || ! has_cuda; then
  echo "side-by-side benchmarks skipped: they run on CUDA only (BENCH=0 or --device cpu skips them too)"
  exit "$status"
fi
if [[ ! -f $OUT/sft/config.json ]]; then
  echo "side-by-side benchmarks skipped: the check wrote no SFT model ($OUT/sft)" >&2
  exit 1
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled
bench() {  # one benchmark; its failure fails the check, the others still run
  echo "== $*"
  "$PYTHON" "$@" || { echo "FAILED: $*" >&2; status=1; }
}
if "$PYTHON" -c "import lm_eval" 2>/dev/null; then
  bench benchmarks/eval_vs_lmeval.py --model "$OUT/sft" --problems 256 --batch-size 64 --max-new-tokens 256 \
    --dtype bfloat16 --device cuda --json "$OUT/eval_vs_lmeval.json"
else
  echo "eval vs lm-eval skipped: lm-eval is not installed (pip install -e '.[bench]')"
fi
bench benchmarks/rl_vs_trl.py --model "$OUT/sft" --prompts 16 --group 8 --max-new-tokens 256 --steps 6
bench benchmarks/ppo_bench.py --model "$OUT/sft" --paper-reward --steps 4 --batch-size 16 --max-new-tokens 256
exit "$status"
