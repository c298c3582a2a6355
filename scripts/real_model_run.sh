#!/usr/bin/env bash
# The measured real-model run (docs/real-model.md): SmolLM2-135M-Instruct on CPU, GSM8k.
#   scripts/real_model_run.sh [OUT] [STAGES]     OUT default runs/real; STAGES default "base sft sft_eval ppo ppo_eval"
# The held-out set is fixed before anything runs: the first $LIMIT (default 200) GSM8k test problems. Nothing
# is chosen on it: every setting below is the configs/smol/ recipe's, and PPO keeps its last policy (no
# best-step choice). Every stage resumes or is skipped when its output exists, so the same command continues
# a run that was stopped.
#   base      greedy accuracy and answer-found rate of the base model, chat template and WizardMath prompt
#   sft       SFT on verified solutions: GSM8k train reference solutions (`wizardmath data sft`), $SFT_ROWS rows
#   sft_eval  the SFT model on the held-out set
#   ppo       PPO with the verifier reward on GSM8k train problems not used by SFT, $PPO_STEPS steps
#   ppo_eval  the PPO policy on the held-out set
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/real}
STAGES=${2:-base sft sft_eval ppo ppo_eval}
LIMIT=${LIMIT:-200}
SFT_ROWS=${SFT_ROWS:-1000}
PPO_STEPS=${PPO_STEPS:-10}
BIN=${BIN:-$PWD/.venv/bin}
DATA=${DATA:-../shared/data/gsm8k}
WM="$BIN/wizardmath"
CPU=(--use_cpu true --bf16 false --torch_dtype float32 --report_to none)
mkdir -p "$OUT"
has() { [[ " $STAGES " == *" $1 "* ]]; }
timed() {  # timed NAME COMMAND...: seconds per stage in OUT/times.tsv
  local name=$1 start=$SECONDS
  shift
  "$@"
  printf '%s\t%s\n' "$name" "$((SECONDS - start))" >>"$OUT/times.tsv"
}
eval_on_test() {  # eval_on_test MODEL NAME [FLAGS...]
  local model=$1 name=$2; shift 2
  "$WM" eval --config configs/smol/eval.yaml --model "$model" --dataset gsm8k --data-path "$DATA/test.jsonl" \
    --limit "$LIMIT" --output "$OUT/eval" --name "$name" --no_progress "$@"
}

[[ -d "$OUT/base" ]] || "$WM" convert-gguf --output "$OUT/base"
if has base; then
  timed base_chat eval_on_test "$OUT/base" base_chat
  timed base_wizardmath eval_on_test "$OUT/base" base_wizardmath --template wizardmath
fi
if has sft; then
  [[ -f "$OUT/sft_data/train.jsonl" ]] || {
    mkdir -p "$OUT/sft_data"
    "$WM" data sft --dataset gsm8k --data_path "$DATA/train.jsonl" --split train --model "$OUT/base" \
      --output "$OUT/sft_data/all.jsonl"
    head -n "$SFT_ROWS" "$OUT/sft_data/all.jsonl" >"$OUT/sft_data/train.jsonl"
  }
  [[ -f "$OUT/sft/sft_summary.json" ]] || timed sft "$WM" sft --config configs/smol/sft.yaml --model "$OUT/base" \
    --data_path "$OUT/sft_data/train.jsonl" --output "$OUT/sft" --num_train_epochs 1 "${CPU[@]}"
fi
if has sft_eval; then timed sft_eval eval_on_test "$OUT/sft" sft; fi
if has ppo; then
  [[ -f "$OUT/rl/train.jsonl" ]] || {  # GSM8k train problems SFT did not see; a validation split of them
    mkdir -p "$OUT/rl"
    "$WM" data convert --dataset gsm8k --data_path "$DATA/train.jsonl" --split train --output "$OUT/rl/all.jsonl"
    tail -n +$((SFT_ROWS + 1)) "$OUT/rl/all.jsonl" | head -n 400 >"$OUT/rl/train.jsonl"
    tail -n +$((SFT_ROWS + 401)) "$OUT/rl/all.jsonl" | head -n 50 >"$OUT/rl/val.jsonl"
  }
  [[ -f "$OUT/ppo/ppo_summary.json" ]] || timed ppo "$WM" ppo --config configs/smol/ppo.yaml --model "$OUT/sft" \
    --data_path "$OUT/rl/train.jsonl" --eval_data_path "$OUT/rl/val.jsonl" --eval_limit 50 --eval_steps 0 \
    --steps "$PPO_STEPS" --output "$OUT/ppo" "${CPU[@]}"
fi
if has ppo_eval; then timed ppo_eval eval_on_test "$OUT/ppo" ppo; fi
"$BIN/python" scripts/real_model_figures.py table "$OUT"
