"""Multi-step FedAvg attack speed: time per attack step at K local steps vs K single-gradient steps.

Inverting Gradients (signed Adam, cosine + TV, boxed; labels given) on Geiping's ConvNet
(``--width``, BN eval mode, 11 classes, one 32x32 photo, normalized space). The client either
shares one gradient (FedSGD, the baseline) or the weight delta of K local SGD steps on its one
image (``LocalRecipe(epochs=K, batch_size=1, lr=1e-4)``, Geiping's FedAvg setting); the
attacker differentiates through its own simulation of those K steps
(:func:`leakjax.fl.local_update`, with and without rematerialization: ``--remat``).

Measured in one process, both warm (compiled, one untimed call), interleaved (baseline, K=1,
K=5, K=20, baseline, ...), median and range over ``--repeats``: the wall time of ``--steps``
attack steps driven by :func:`leakjax.attacks.run` (its ``lax.scan``), divided by the steps.
Reported per K: seconds per attack step, and ``ratio = t_K / (K * t_single)``, the cost of one
attack step against K single-gradient steps. Target (issue 15): ratio <= 1.5. Also the float32
matmul rate (2048^2 ``jnp.dot``) and XLA's flops of one step (``cost_analysis``).

    python benchmarks/multistep_speed.py --out benchmarks/results/multistep_speed.json
    python benchmarks/multistep_speed.py --smoke
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ig_common import machine_info, matmul_gflops  # noqa: E402

from leakjax.attacks import inverting_gradients, run  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import LocalRecipe, observe, observe_update  # noqa: E402
from leakjax.models import convnet, lenet  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="convnet", choices=("convnet", "lenet"))
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--ks", default="1,5,20")
    ap.add_argument("--steps", type=int, default=2, help="attack steps per timed call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--remat", default="auto", help="comma list of auto, true, false")
    ap.add_argument("--smoke", action="store_true", help="width 4, K = 1, 2, 1 repeat")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.smoke:
        args.width, args.ks, args.repeats, args.steps = 4, "1,2", 1, 1
    ks = [int(k) for k in args.ks.split(",")]
    remats = [{"auto": "auto", "true": True, "false": False}[r] for r in args.remat.split(",")]
    data = load_embedded("photos")
    spec = data.spec
    if args.model == "convnet":
        model = convnet(jax.random.key(0), width=args.width, num_classes=spec.num_classes)
    else:
        model = lenet(jax.random.key(0), input_shape=spec.image_shape, num_classes=spec.num_classes)
    x, y = data.images[:1], data.labels[:1]
    steps = args.steps
    max_steps = 24000  # schedule length: no learning-rate drop inside the timed steps
    cases = {"single": observe(jax.random.key(1), model, x, y, spec=spec, reveal_labels=True)}
    for k in ks:
        rec = LocalRecipe(epochs=k, batch_size=1, lr=1e-4)
        cases[f"K={k}"] = observe_update(
            jax.random.key(1), model, x, y, spec=spec, recipe=rec, reveal_labels=True
        )
    progs, flops = {}, {}
    key = jax.random.key(7)
    for name, obs in cases.items():
        for remat in remats if name != "single" else ["-"]:
            kw = {} if remat == "-" else dict(remat=remat)
            att = inverting_gradients(model, spec=spec, labels="given", max_steps=max_steps, **kw)
            f = jax.jit(functools.partial(run, att, steps=steps))
            t0 = time.perf_counter()
            fc = f.lower(key, obs).compile()
            comp = time.perf_counter() - t0
            one = jax.jit(att.step).lower(att.init(key, obs), obs).compile()
            cost = one.cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            progs[(name, str(remat))] = (fc, obs, comp)
            flops[(name, str(remat))] = float(cost.get("flops", 0.0))
            jax.block_until_ready(fc(key, obs))  # warm-up call
            print(f"compiled {name} remat={remat} in {comp:.1f} s", flush=True)
    mm = matmul_gflops()
    print(f"matmul 2048^2 float32: {mm:.1f} GFLOP/s", flush=True)
    times = {k: [] for k in progs}
    for _ in range(args.repeats):
        for k, (fc, obs, _) in progs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fc(key, obs))
            times[k].append((time.perf_counter() - t0) / steps)
            print(f"  {k}: {times[k][-1]:.3f} s per attack step", flush=True)
    t1 = times[("single", "-")]
    rows = []
    for (name, remat), ts in times.items():
        kk = 1 if name == "single" else int(name.split("=")[1])
        ratios = [a / (kk * b) for a, b in zip(ts, t1)]
        med = float(np.median(ts))
        rows.append(
            dict(
                case=name,
                local_steps=kk,
                remat=remat,
                seconds_per_attack_step=ts,
                median=med,
                range=[min(ts), max(ts)],
                ratio_to_k_single=float(med / (kk * np.median(t1))),
                ratio_range=[min(ratios), max(ratios)],
                xla_flops_per_step=flops[(name, remat)],
                gflops=flops[(name, remat)] / med / 1e9,
                compile_seconds=progs[(name, remat)][2],
            )
        )
        print(
            f"{name:8s} remat={remat:5s} {med:8.3f} s/step  ratio {rows[-1]['ratio_to_k_single']:.2f}"
            f" ({min(ratios):.2f}-{max(ratios):.2f})  {rows[-1]['gflops']:.1f} GFLOP/s",
            flush=True,
        )
    record = dict(
        benchmark="multistep_speed",
        command=" ".join(["python", *sys.argv]),
        model=args.model,
        width=args.width,
        steps_per_call=steps,
        repeats=args.repeats,
        matmul_gflops=mm,
        machine=machine_info(),
        note=args.note,
        target_ratio=1.5,
        rows=rows,
    )
    out = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "results",
        "multistep_speed" + ("_smoke" if args.smoke else "") + ".json",
    )
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as fh:
        json.dump(record, fh, indent=1, default=float)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
