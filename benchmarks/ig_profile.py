"""Where one Inverting Gradients step spends its time on XLA:CPU: a per-op profile (issue 15).

One IG iteration (signed Adam on cosine + TV, boxed, labels given: the ``ig_speed.py`` setting)
on ConvNet-``width`` with one 32x32 photo, compiled once and traced with ``jax.profiler`` over
``--calls`` calls. The trace's XLA op events are grouped by kind (the HLO instruction name before
its number: ``convolution``, ``fusion``, ``dot``, ...), and each kind's share of the op time is
reported with the top individual ops (``_op_profile.summarize``: their HLO instruction, the JAX
function they came from and, for unfused convolutions, their FLOPs and achieved rate). XLA's
cost analysis gives the step's FLOPs, from which the achieved rate of the whole step is set
against the matmul rate measured in the same run.

    python benchmarks/ig_profile.py --widths 32,64 --calls 20 \
        --out benchmarks/results/ig_profile.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ig_common import machine_info, matmul_gflops, save_json  # noqa: E402
from _op_profile import summarize  # noqa: E402
from ig_speed import jax_setup  # noqa: E402
from throughput_levers import profile_ops  # noqa: E402


def wall_ms(fn, calls):
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts)), float(np.min(ts)), float(np.max(ts))


def profile_width(width: int, calls: int, mm: float) -> dict:
    compiled: list = []
    fns = jax_setup(width, restarts=1, compiled_out=compiled)
    hlo_text = compiled[0].as_text()
    step, flops = fns["jax_sequential"]
    step()
    wall = wall_ms(step, calls)
    ops = profile_ops(lambda: step(), (), calls)
    if "error" in ops:
        return dict(width=width, error=ops["error"])
    summary = summarize(ops, hlo_text)
    return dict(
        width=width,
        step_wall_ms=dict(median=wall[0], min=wall[1], max=wall[2]),
        step_gflop=flops / 1e9,
        step_gflops_per_s=flops / (wall[0] * 1e-3) / 1e9,
        **summary,
        matmul_gflops=mm,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="32,64")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    mm = matmul_gflops()
    print(f"matmul 2048^2: {mm:.1f} GFLOP/s", flush=True)
    rows = []
    for w in [int(s) for s in args.widths.split(",")]:
        r = profile_width(w, args.calls, mm)
        rows.append(r)
        if "error" in r:
            print(f"width {w}: {r['error']}")
            continue
        print(
            f"width {w}: step {r['step_wall_ms']['median']:.1f} ms, {r['step_gflop']:.2f} GFLOP, "
            f"{r['step_gflops_per_s']:.1f} GFLOP/s; op time {r['op_time_ms_per_call']:.1f} ms",
            flush=True,
        )
        for k, v in list(r["kinds"].items())[:6]:
            print(
                f"  {k:14s} {v['share']:6.1%}  {v['us_per_call'] / 1e3:7.2f} ms  "
                f"x{v['count_per_call']:.0f}"
            )
        for t in r["top_ops"][:6]:
            rate = f"{t['gflops_per_s']:.1f} GFLOP/s" if t["gflops_per_s"] else ""
            print(f"  {t['name']:26s} {t['share']:6.1%}  {rate}  {(t['hlo'] or '')[:90]}")
    out = args.out or os.path.join(os.path.dirname(__file__), "results", "ig_profile.json")
    save_json(
        out,
        dict(
            command=" ".join(["python", *sys.argv]),
            jax=jax.__version__,
            machine=machine_info(),
            matmul_gflops=mm,
            rows=rows,
        ),
    )
    print("wrote", out)


if __name__ == "__main__":
    main()
