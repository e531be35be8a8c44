#!/usr/bin/env bash
# The GPU figures (../shared/gpu/README.md) in one run, each model loaded once: nf4 engine decode vs bare generate,
# adapter swap vs the base's cold load and memory over 20 swaps, key to live and trainer vs bare trl (SFT; DPO's cost),
# then bf16 decode (bench/train.py --suite). Every figure goes into one file, OUT_DIR/gpu-figures.json; beside it
# gpu.txt (nvidia-smi -L) and the logs.
#
#   bench/gpu.sh [--shape 7b|13b|tiny] [MODEL_DIR] [OUT_DIR]
#
# MODEL_DIR defaults to OUT_DIR/llama2-SHAPE, built once with ../shared/gpu/make_llama2_shape.py (random weights,
# Llama-2's own tokenizer and chat template). OUT_DIR defaults to ./bench-out. Relative paths are taken from where
# you run it, from any folder; the project's .venv Python runs everything. `--shape tiny` is the dry run (a CPU
# does it in a few minutes). The whole run stays inside BUDGET_S seconds (default 480), building included.
set -euo pipefail
started=$(date +%s)
here=$(pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shape=7b
if [ "${1:-}" = "--shape" ]; then shape=${2:?--shape needs 7b, 13b or tiny}; shift 2; fi
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$here/$1" ;; esac; }
out=$(abs "${2:-${OUT:-bench-out}}")
model=${1:-}
py=$root/.venv/bin/python
[ -x "$py" ] || { echo "gpu.sh: no $py; run \`make setup\` in $root first" >&2; exit 2; }
budget=${BUDGET_S:-480}
mkdir -p "$out"
out=$(cd "$out" && pwd)
(nvidia-smi -L 2>&1 || echo "no GPU: nvidia-smi found none") > "$out/gpu.txt"

if [ -z "$model" ]; then
    model=$out/llama2-$shape
    if [ ! -f "$model/config.json" ]; then
        maker=$root/../shared/gpu/make_llama2_shape.py
        [ -f "$maker" ] || { echo "gpu.sh: no $maker (the shared folder beside the repo) to build the model" >&2; exit 2; }
        echo "== building a Llama-2-$shape-shaped folder in $model"
        "$py" "$maker" "$model.partial" --shape "$shape" 2>&1 | tee "$out/make-shape.log" | tail -n 1
        mv "$model.partial" "$model"
    fi
else
    model=$(abs "$model")
fi
[ -f "$model/config.json" ] || { echo "gpu.sh: $model is not a model folder (no config.json)" >&2; exit 2; }
model=$(cd "$model" && pwd)

left=$(( budget - ($(date +%s) - started) - 5 ))
echo "== figures for $model ($left s left of $budget), into $out/gpu-figures.json"
rm -rf "$out/home"  # a fresh home each run: the sample data, imported once
cd "$root/bench"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
set +e
timeout "$left" "$py" train.py --model "$model" --home "$out/home" --suite "$out/gpu-figures.json" \
    --max-steps "${STEPS:-8}" --methods "${METHODS:-sft,dpo}" --reps "${REPS:-3}" \
    --prompt-tokens 256 --new-tokens 256 --swaps 20 > "$out/suite.log" 2>&1
status=$?
set -e
grep -E '^(decode|swap|train|wrote|\{)' "$out/suite.log" || true
[ $status -eq 0 ] || echo "gpu.sh: the suite ended with status $status (124: out of time); see $out/suite.log" >&2
echo "== $(( $(date +%s) - started )) s in all; figures so far in $out/gpu-figures.json"
exit $status
