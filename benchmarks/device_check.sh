#!/usr/bin/env bash
# One prepared accelerator check (at most ~8 minutes): the engine's throughput benchmark on
# whatever accelerator is present, then the DLG and GGL speed benchmarks if time is left.
# Writes JSON under $OUT (the device tool's output folder) or benchmarks/results/device/.
# Usage (on the lent machine, from the repository root): bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/device}
mkdir -p "$OUT"
PY=${PY:-python}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
$PY -c "import jax; print(jax.devices())" | tee "$OUT/devices.txt"
timeout 300 $PY benchmarks/engine_throughput.py --counts 1,4,16,64,256,1024 \
  --budget-seconds 240 --out "$OUT/engine_throughput.json" 2>&1 | tail -n 30
timeout 90 $PY benchmarks/dlg_speed.py --steps 10 --counts 1,64,256 --strategies vmap \
  --repeats 3 --out "$OUT/dlg_speed.json" 2>&1 | tail -n 10 || true
timeout 60 $PY benchmarks/multistep_speed.py --out "$OUT/multistep_speed.json" 2>&1 | tail -n 10 || true
ls -l "$OUT"
