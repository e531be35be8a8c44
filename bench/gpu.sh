#!/usr/bin/env bash
# The GPU figures (../shared/gpu/README.md): decode nf4 vs bf16, swap, train (the method train.py uses), on a Llama-2-7B-shaped
# folder. Usage: bench/gpu.sh MODEL_DIR [OUT_DIR]. Each script prints figures and one JSON line; all go to OUT_DIR.
set -uo pipefail
model=${1:?usage: bench/gpu.sh MODEL_DIR [OUT_DIR]}
out=${2:-${OUT:-bench-out}}
mkdir -p "$out"
cd "$(dirname "$0")"
export HF_HUB_OFFLINE=1
nvidia-smi -L > "$out/gpu.txt" 2>&1
run() { local name=$1; shift; echo "== $name"; timeout 240 python "$@" 2>&1 | tee "$out/$name.log" | tail -n 6; }
run decode-nf4 decode.py --model "$model" --quant 4bit --prompt-tokens 256 --new-tokens 256 --reps 3 --home "$out/home"
run decode-bf16 decode.py --model "$model" --quant none --prompt-tokens 256 --new-tokens 256 --reps 3 --home "$out/home"
run swap swap.py --model "$model" --home "$out/home"
run train train.py --model "$model" --max-steps 8
