#!/usr/bin/env bash
# One prepared accelerator check (at most ~8 minutes): the engine's throughput benchmark and the
# four throughput benchmarks of issue 15 (DLG, IG, GGL, multi-step FedAvg) on whatever
# accelerator is present. The torch comparisons run only where torch is installed; every step
# has its own time limit, and a failing step does not stop the others.
# Writes JSON under $OUT (the device tool's output folder) or benchmarks/results/device/.
# Usage (on the lent machine, from the repository root): bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/device}
mkdir -p "$OUT"
PY=${PY:-python}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
$PY -c "import jax; print(jax.devices())" | tee "$OUT/devices.txt"
if $PY -c "import torch" 2>/dev/null; then HAS_TORCH=1; else HAS_TORCH=0; fi
echo "torch installed: $HAS_TORCH" | tee -a "$OUT/devices.txt"
step() {  # step SECONDS NAME CMD...: run one benchmark with a time limit, keep going on failure
  local limit=$1 name=$2; shift 2
  echo "== $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "   exit $?"; tail -n 8 "$OUT/$name.log"
}
step 120 engine_throughput $PY benchmarks/engine_throughput.py --counts 1,16,256,1024 \
  --budget-seconds 100 --out "$OUT/engine_throughput.json"
# DLG: vmap over runs with per-run vs shared weights, no torch needed
step 80 throughput_levers $PY benchmarks/throughput_levers.py --levers batching \
  --batching vmap,vmap_shared --conv-impls auto --count 256 --repeats 3 \
  --out "$OUT/throughput_levers.json"
step 60 multistep_speed $PY benchmarks/multistep_speed.py --ks 1,5,20 --repeats 3 \
  --out "$OUT/multistep_speed.json"
step 50 ggl_speed $PY benchmarks/ggl_speed.py --populations 128 512 --repeats 3 \
  --out "$OUT/ggl_speed.json"
# IG: leakjax's run against the torch breaching-equivalent step (leakjax alone without torch)
step 70 ig_speed $PY benchmarks/ig_speed.py --widths 32,64 --restarts 1,8 --reps 2 --steps 2 \
  --out "$OUT/ig_speed_breaching.json"
if [ "$HAS_TORCH" = 1 ]; then  # DLG against torch (torch on the host's CPU cores)
  step 90 dlg_speed $PY benchmarks/dlg_speed.py --steps 10 --counts 1,16 --strategies vmap \
    --repeats 2 --throughput-repeats 1 --torch-threads default --out "$OUT/dlg_speed.json"
fi
ls -l "$OUT"
