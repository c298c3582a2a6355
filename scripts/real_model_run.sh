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
# The same chain in the symbolic world beside it (SYM: a finished `make demo` output, default runs/tiny), the
# pretrained model against the from-scratch one on identical data, prompts and held-out problems:
#   sym_base  the base model (chat template) on the demo's 200 held-out problems
#   sym_sft   SFT on $SYM_ROWS rows drawn (seed 0) from the demo's solve/sft.jsonl; the tiny from-scratch
#             model on the same rows with the demo's own SFT recipe (the control)
#   sym_eval  both SFT models, greedy, on the held-out problems (WizardMath prompt, as trained)
#   sym_irm   an IRM on the SFT model from the demo's evolution: pairwise accuracy on its validation split
#   sym_prm   a PRM on the SFT model from the demo's step labels: step AUC on its validation split
#   sym_bon   8 samples (T=0.8) on the first 100 held-out problems: one sample, majority vote, PRM best-of-8
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/real}
STAGES=${2:-base sft sft_eval ppo ppo_eval sym_base sym_sft sym_eval sym_irm sym_prm sym_bon}
LIMIT=${LIMIT:-200}
SFT_ROWS=${SFT_ROWS:-1000}
PPO_STEPS=${PPO_STEPS:-10}
SYM=${SYM:-runs/tiny}
SYM_ROWS=${SYM_ROWS:-1000}
RM_STEPS=${RM_STEPS:-40}
BIN=${BIN:-$PWD/.venv/bin}
DATA=${DATA:-../shared/data/gsm8k}
WM="$BIN/wizardmath"
CPU=(--use_cpu true --bf16 false --torch_dtype float32 --report_to none)
RM=(--max_steps "$RM_STEPS" --per_device_train_batch_size 8 --learning_rate 1e-5 --warmup_steps 0 "${CPU[@]}")  # IRM and PRM alike
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

eval_symbolic() {  # eval_symbolic MODEL NAME [FLAGS...]: the demo's held-out problems, its eval lengths
  local model=$1 name=$2; shift 2
  "$WM" eval --config configs/smol/eval.yaml --model "$model" --dataset jsonl --data-path "$SYM/test.jsonl" \
    --max_new_tokens 128 --batch_size 32 --output "$OUT/sym_eval" --name "$name" --no_progress "$@"
}
if [[ " $STAGES " == *" sym_"* && ! -f "$SYM/test.jsonl" ]]; then
  echo "real_model_run: $SYM/test.jsonl not found; run \`make demo OUT=$SYM\` first or set SYM" >&2
  exit 2
fi
if has sym_base; then timed sym_base eval_symbolic "$OUT/base" base; fi
if has sym_sft; then
  [[ -f "$OUT/sym_data/train.jsonl" ]] || {
    mkdir -p "$OUT/sym_data"
    "$BIN/python" -c 'import random, sys; rows = open(sys.argv[1]).readlines(); random.Random(0).shuffle(rows)
open(sys.argv[2], "w").writelines(rows[: int(sys.argv[3])])' "$SYM/solve/sft.jsonl" "$OUT/sym_data/train.jsonl" "$SYM_ROWS"
  }
  [[ -f "$OUT/sym_sft/sft_summary.json" ]] || timed sym_sft "$WM" sft --config configs/smol/sft.yaml \
    --model "$OUT/base" --data_path "$OUT/sym_data/train.jsonl" --output "$OUT/sym_sft" --num_train_epochs 1 \
    "${CPU[@]}"
  [[ -f "$OUT/sym_sft_tiny/sft_summary.json" ]] || timed sym_sft_tiny "$WM" sft --config configs/tiny/sft.yaml \
    --model "$SYM/base" --data_path "$OUT/sym_data/train.jsonl" --output "$OUT/sym_sft_tiny"
fi
if has sym_eval; then
  timed sym_eval eval_symbolic "$OUT/sym_sft" sft --template wizardmath
  timed sym_eval_tiny eval_symbolic "$OUT/sym_sft_tiny" sft_tiny --template wizardmath
fi
if has sym_irm; then
  [[ -f "$OUT/sym_irm/irm_summary.json" ]] || timed sym_irm "$WM" train-irm --config configs/tiny/irm.yaml \
    --model "$OUT/sym_sft" --data_path "$SYM/evol" --output "$OUT/sym_irm" "${RM[@]}"
fi
if has sym_prm; then
  [[ -f "$OUT/sym_prm/prm_summary.json" ]] || timed sym_prm "$WM" train-prm --config configs/tiny/prm.yaml \
    --model "$OUT/sym_sft" --data_path "$SYM/prm_labels.jsonl" --output "$OUT/sym_prm" "${RM[@]}"
fi
if has sym_bon; then
  timed sym_bon eval_symbolic "$OUT/sym_sft" sft_bo8 --template wizardmath --limit 100 --num_samples 8 \
    --temperature 0.8 --rerank prm --prm "$OUT/sym_prm"
fi
"$BIN/python" scripts/real_model_figures.py table "$OUT"
