# Shared by the stage scripts (sourced). `wm` runs a wizardmath stage, `launch` runs one under accelerate.
# DRY_RUN=1 runs nothing: each stage's config is loaded and its flags parsed (and PPO prints its memory
# plan) by scripts/dry_run.py; with DRY_RUN_LOG=FILE the commands are only recorded there, for one check
# of the whole chain at the end (scripts/run_rleif.sh does this).
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_dry() {  # _dry [@ACCELERATE_CONFIG] STAGE ARGS...
  if [[ -n "${DRY_RUN_LOG:-}" ]]; then
    printf '%q ' "$@" >>"$DRY_RUN_LOG"; echo >>"$DRY_RUN_LOG"
  else
    python "$SCRIPTS_DIR/dry_run.py" --command "$@"
  fi
}

wm() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then _dry "$@"; else wizardmath "$@"; fi
}

launch() {  # launch ACCELERATE_CONFIG NUM_PROCESSES|"" STAGE ARGS...   (NUM_PROCESSES: all nodes' GPUs)
  local accel=$1 procs=$2; shift 2
  if [[ "${DRY_RUN:-0}" == 1 ]]; then _dry "@$accel" "$@"; return; fi
  local extra=(); [[ -n "$procs" ]] && extra=(--num_processes "$procs")
  # several nodes: the same command on each, with MACHINE_RANK and MASTER_ADDR set (configs/accelerate/multi_node.yaml)
  [[ -n "${MACHINE_RANK:-}" ]] && extra+=(--machine_rank "$MACHINE_RANK")
  [[ -n "${MASTER_ADDR:-}" ]] && extra+=(--main_process_ip "$MASTER_ADDR")
  accelerate launch --config_file "$accel" "${extra[@]}" -m wizardmath.cli "$@"
}
