"""Engine throughput: attacks per second from 1 to 1024 runs, on whatever backend is present.

DLG on DLG's sigmoid LeNet (photos, B = 1) and IG on Geiping's ConvNet (width ``--width``,
labels given), each as a sweep of N runs (16 victims x N/16 seeds) through
``leakjax.sweep.run_sweep`` with the backend's default batching (threads on CPU, vmap sharded
over the local devices on GPU/TPU). Reported per N: wall seconds, compile seconds, runs per
second after compilation. Meant for ``benchmarks/device_check.sh`` on an accelerator; on the
2-core CPU use small counts.

    python benchmarks/engine_throughput.py --counts 1,16,64 --out benchmarks/results/engine_throughput_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def sweep_for(attack: str, n: int, steps: int, width: int):
    from leakjax.sweep import Attack, Data, Model, Sweep, Threat, axis, product, seeds

    victims = min(n, 16)
    nseeds = max(1, n // victims)
    if attack == "dlg":
        atk, model, threat = Attack("dlg", steps=steps), Model("lenet", num_classes=100), Threat()
    else:
        atk = Attack("ig", steps=steps)
        model = Model("convnet", width=width, num_classes=11)
        threat = Threat(labels="given")
    return Sweep(f"throughput_{attack}_{n}", runs=product(
        axis("attack", [atk]), axis("model", [model]), axis("data", [Data("photos", victims=victims)]),
        axis("threat", [threat]), seeds(nseeds)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1,4,16,64,256,1024")
    ap.add_argument("--attacks", default="dlg,ig")
    ap.add_argument("--dlg-steps", type=int, default=10)
    ap.add_argument("--ig-steps", type=int, default=20)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--budget-seconds", type=float, default=420.0,
                    help="stop starting new measurements after this much wall time")
    ap.add_argument("--out", default="benchmarks/results/engine_throughput.json")
    a = ap.parse_args(argv)
    from leakjax.sweep import run_sweep
    from leakjax.sweep.environment import environment

    t_start = time.perf_counter()
    rows = []
    tmp = tempfile.mkdtemp(prefix="leakjax-throughput-")
    for attack in a.attacks.split(","):
        steps = a.dlg_steps if attack == "dlg" else a.ig_steps
        for n in [int(c) for c in a.counts.split(",")]:
            if time.perf_counter() - t_start > a.budget_seconds:
                rows.append(dict(attack=attack, runs=n, skipped="time budget"))
                continue
            logs = []
            store = os.path.join(tmp, f"{attack}_{n}.sqlite")
            t0 = time.perf_counter()
            r = run_sweep(sweep_for(attack, n, steps, a.width), store, progress=False,
                          log=logs.append)
            wall = time.perf_counter() - t0
            comp = sum(float(m.split("compiled in ")[1].split("s")[0]) for m in logs
                       if "compiled in" in m)
            rows.append(dict(attack=attack, runs=r.written, steps=steps, wall_seconds=wall,
                             compile_seconds=comp,
                             runs_per_second=r.written / max(wall - comp, 1e-9), log=logs))
            print(json.dumps(rows[-1]), flush=True)
    out = dict(environment=environment(), rows=rows, args=vars(a))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _cache import enable_compile_cache

    enable_compile_cache()
    main()
