"""Inverting Gradients step speed: leakjax (JAX/XLA) vs a faithful PyTorch IG step, same run.

Both sides run one IG iteration on Geiping's ConvNet (``--width``, 32x32x3, 10 classes, BN eval
mode) for one CIFAR-sized image: batch-mean CE gradient with ``create_graph``, cosine distance
over all layers concatenated + TV (means), backward to the image, sign of the gradient, Adam
(lr 0.1) with the multistep schedule, clamp into the normalized box. PyTorch runs restarts one
after another (as the reference's trial loop does); leakjax runs them (b) one after another with the compiled
single step, (c) as ``lax.map`` of the step (what ``leakjax.attacks.run(restarts=R)`` does on
CPU) and (d) as a vmapped batch (what ``run`` does on GPU/TPU; timed only up to
``--vmap-max-width`` because XLA:CPU needs minutes per vmapped step). Also measured: the same single step inside a ``lax.scan`` (how ``run`` drives
steps) to expose XLA:CPU's while-loop convolution slowdown. Achieved GFLOP/s = XLA
``cost_analysis()`` flops of the compiled step / time; the machine's matmul rate is a
2048x2048 float32 ``jnp.dot`` measured in the same process. Configurations are interleaved
(A, B, A, B) and the median is reported; ``uptime`` load is recorded (shared machine).

Default (``--reference breaching``, issue 15): leakjax's :func:`leakjax.attacks.run` with the
``preset="breaching"`` attack (cosine over all layers + 0.2 breaching TV, signed Adam 0.1, box,
best iterate; restarts batched as ``run`` batches them on this backend) against the PyTorch
implementation of breaching's step in ``benchmarks/torch_ig_reference.py`` (same weights and
objective, checked at one point; trials one after another as breaching runs them), at each
width and restart count: seconds per iteration (every restart stepped once), both warm,
interleaved, median and range over ``--reps``, and leakjax's GFLOP/s against the matmul rate.

Usage:
  python benchmarks/ig_speed.py --out benchmarks/results/ig_speed_breaching.json  # widths 32, 64
  python benchmarks/ig_speed.py --reference forms --widths 16,64   # the earlier step-form table
  python benchmarks/ig_speed.py --smoke            # width 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, save_json  # noqa: E402

from leakjax.attacks import inverting_gradients  # noqa: E402
from leakjax.fl import observe  # noqa: E402
from leakjax.models import convnet  # noqa: E402
from leakjax.types import DataSpec  # noqa: E402

SPEC = DataSpec(
    "cifar10", (32, 32, 3), 10, mean=(0.4915, 0.4823, 0.4468), std=(0.2470, 0.2435, 0.2616)
)


# ------------------------------------------------------------------------------ PyTorch side
def torch_setup(width, restarts, max_steps=4800):
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    w = width
    layers = []
    for cin, cout in (
        (3, w),
        (w, 2 * w),
        (2 * w, 2 * w),
        (2 * w, 4 * w),
        (4 * w, 4 * w),
        (4 * w, 4 * w),
    ):
        layers += block(cin, cout)
    layers += [nn.MaxPool2d(3)]
    layers += block(4 * w, 4 * w) + block(4 * w, 4 * w)
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(36 * w, 10)]
    model = nn.Sequential(*layers).eval()
    params = [p for p in model.parameters()]
    gt = torch.rand(1, 3, 32, 32)
    mean = torch.tensor(SPEC.mean).view(1, 3, 1, 1)
    std = torch.tensor(SPEC.std).view(1, 3, 1, 1)
    y = torch.tensor([1])
    loss_fn = nn.CrossEntropyLoss()
    target = [g.detach() for g in torch.autograd.grad(loss_fn(model((gt - mean) / std), y), params)]
    lo, hi = (0 - mean) / std, (1 - mean) / std
    trials = []
    for _ in range(restarts):
        x = torch.randn(1, 3, 32, 32, requires_grad=True)
        opt = torch.optim.Adam([x], lr=0.1)
        sched = torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=[max_steps // 2.667, max_steps // 1.6, max_steps // 1.142], gamma=0.1
        )
        trials.append((x, opt, sched))

    def step_one(x, opt, sched):
        opt.zero_grad()
        model.zero_grad()
        loss = loss_fn(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        dot, na, nb = 0, 0, 0
        for a, b in zip(g, target):
            dot = dot - (a * b).sum()
            na = na + a.pow(2).sum()
            nb = nb + b.pow(2).sum()
        cost = 1 + dot / na.sqrt() / nb.sqrt()
        tv = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean() + (
            x[:, :, 1:, :] - x[:, :, :-1, :]
        ).abs().mean()
        cost = cost + 1e-4 * tv
        cost.backward()
        x.grad.sign_()
        opt.step()
        sched.step()
        with torch.no_grad():
            x.data = torch.max(torch.min(x, hi), lo)
        return cost.item()

    def step_all():
        for t in trials:
            step_one(*t)

    return step_all


# ------------------------------------------------------------------------------ JAX side
def jax_setup(width, restarts, vmap_max_width=16, compiled_out=None):
    """The JAX sides of the comparison; ``compiled_out``, a list, receives the compiled single step."""
    model = convnet(jax.random.key(0), width=width, num_classes=10)
    img = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3))
    obs = observe(jax.random.key(2), model, img, jnp.array([1]), spec=SPEC, reveal_labels=True)
    att = inverting_gradients(model, spec=SPEC, labels="given", max_steps=4800)
    keys = jax.random.split(jax.random.key(3), restarts)
    states = jax.vmap(lambda k: att.init(k, obs))(keys)
    single = jax.jit(att.step)
    one_state = jax.tree.map(lambda a: a[0], states)
    fns = {}
    c1 = single.lower(one_state, obs).compile()
    flops1 = c1.cost_analysis()["flops"]
    if compiled_out is not None:
        compiled_out.append(c1)
    # (b) restarts one after another with the compiled single step
    seq_states = [jax.tree.map(lambda a, i=i: a[i], states) for i in range(restarts)]

    def sequential():
        outs = [single(s, obs) for s in seq_states]
        jax.block_until_ready(outs)

    fns["jax_sequential"] = (sequential, flops1 * restarts)
    if restarts > 1:
        # (c) restarts as lax.map of the single step: what ``run`` does on CPU
        mstep = jax.jit(lambda ss: lax.map(lambda s: att.step(s, obs), ss))
        mstep.lower(states).compile()
        fns["jax_map"] = (lambda: jax.block_until_ready(mstep(states)), flops1 * restarts)
    if restarts > 1 and width <= vmap_max_width:
        # (d) restarts vmapped (what ``run`` does on GPU/TPU); XLA:CPU runs it very slowly
        vstep = jax.jit(jax.vmap(lambda s: att.step(s, obs)))
        cv = vstep.lower(states).compile()
        fns["jax_vmap"] = (
            lambda: jax.block_until_ready(vstep(states)),
            cv.cost_analysis()["flops"],
        )
    if restarts == 1:
        k = 3
        scanned = jax.jit(lambda s: lax.scan(lambda c, _: att.step(c, obs), s, None, length=k))
        fns["jax_scan_per_step"] = (
            lambda: jax.block_until_ready(scanned(one_state)),
            flops1 * k,
            k,
        )
    return fns


def matmul_gflops(n=2048, reps=5):
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(a))
        ts.append(time.perf_counter() - t)
    return 2 * n**3 / np.median(ts) / 1e9


def timeit(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def breaching_rows(args, mm):
    """leakjax's ``run`` (breaching preset) against the PyTorch breaching-equivalent step."""
    try:  # without torch: leakjax's side alone (e.g. on an accelerator machine)
        import torch
        from torch_ig_reference import (
            BreachingIG,
            check_objective,
            convnet_from_flax,
            torch_grads_from_flax,
        )
    except ImportError:
        torch = None

    from leakjax.attacks import run

    if torch is not None:
        torch.set_num_threads(args.torch_threads)
    rows = []
    widths = [4] if args.smoke else [int(w) for w in args.widths.split(",")]
    restarts_list = [1, 2] if args.smoke else [int(r) for r in args.restarts.split(",")]
    for w in widths:
        model = convnet(jax.random.key(0), width=w, num_classes=10)
        img = jax.random.uniform(jax.random.key(1), (1, 32, 32, 3))
        y = jnp.array([1])
        obs = observe(jax.random.key(2), model, img, y, spec=SPEC, reveal_labels=True)
        check = None
        if torch is not None:
            tmodel = convnet_from_flax(
                model.params, model.extra["variables_rest"]["batch_stats"], w, 10
            )
            x_chk = jax.random.normal(jax.random.key(5), (1, 32, 32, 3))
            check = check_objective(model, tmodel, obs, np.asarray(x_chk), y, SPEC)
            print(f"width {w}: objective check {check}", flush=True)
            target = torch_grads_from_flax(obs.update, tmodel)
        att = inverting_gradients(model, spec=SPEC, preset="breaching", labels="given")
        one = jax.jit(att.step).lower(att.init(jax.random.key(3), obs), obs).compile()
        cost = one.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        flops1 = float(cost["flops"])
        for r in restarts_list:
            steps = args.steps if w <= 32 else max(1, args.steps // 2)
            steps = 1 if args.smoke else steps
            f = jax.jit(
                lambda k, o, r=r, steps=steps, att=att: run(att, k, o, steps=steps, restarts=r)
            )
            t0 = time.perf_counter()
            fc = f.lower(jax.random.key(3), obs).compile()
            comp = time.perf_counter() - t0
            jax.block_until_ready(fc(jax.random.key(3), obs))  # warm
            ref = None
            if torch is not None:
                ref = BreachingIG(
                    tmodel, target, torch.tensor([1]), SPEC.mean, SPEC.std, restarts=r, seed=0
                )
                ref.step()  # warm
            t_torch, t_jax = [], []
            for _ in range(reps_of(args)):
                if ref is not None:
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        ref.step()
                    t_torch.append((time.perf_counter() - t0) / steps)
                t0 = time.perf_counter()
                jax.block_until_ready(fc(jax.random.key(3), obs))
                t_jax.append((time.perf_counter() - t0) / steps)
            ratios = [a / b for a, b in zip(t_torch, t_jax)] or [float("nan")]
            t_torch = t_torch or [float("nan")]
            row = dict(
                width=w,
                restarts=r,
                steps_per_timed_call=steps,
                objective_check=check,
                torch_threads=args.torch_threads,
                torch_seconds_per_iteration=t_torch,
                leakjax_seconds_per_iteration=t_jax,
                torch_median=float(np.median(t_torch)),
                leakjax_median=float(np.median(t_jax)),
                speedup=float(np.median(t_torch) / np.median(t_jax)),
                speedup_range=[min(ratios), max(ratios)],
                leakjax_compile_seconds=comp,
                xla_flops_per_iteration=flops1 * r,
                leakjax_gflops=flops1 * r / float(np.median(t_jax)) / 1e9,
                leakjax_frac_matmul=flops1 * r / float(np.median(t_jax)) / 1e9 / mm,
                torch_gflops_same_flops=flops1 * r / float(np.median(t_torch)) / 1e9,
                loadavg=os.getloadavg(),
            )
            rows.append(row)
            print(
                f"width {w:3d} restarts {r}: torch {row['torch_median'] * 1e3:8.1f} ms/it, "
                f"leakjax {row['leakjax_median'] * 1e3:8.1f} ms/it, {row['speedup']:.2f}x "
                f"({min(ratios):.2f}-{max(ratios):.2f}); leakjax {row['leakjax_gflops']:.1f} "
                f"GFLOP/s = {100 * row['leakjax_frac_matmul']:.0f}% of matmul",
                flush=True,
            )
    return rows


def reps_of(args):
    return 1 if args.smoke else args.reps


def _torch_version():
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    return torch.__version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--widths", default="32,64")
    ap.add_argument("--restarts", default="1,8")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--reference",
        default="breaching",
        choices=("breaching", "forms"),
        help="breaching: leakjax's run (breaching preset) vs the PyTorch breaching-equivalent "
        "step (torch_ig_reference.py); forms: the earlier comparison of step forms (inversefed "
        "TV, straight-line / scan / map / vmap)",
    )
    ap.add_argument("--steps", type=int, default=4, help="IG iterations per timed call")
    ap.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--vmap-max-width",
        type=int,
        default=16,
        help="time vmapped restarts only up to this width (XLA:CPU takes minutes per step)",
    )
    args = ap.parse_args()
    mm = matmul_gflops()
    print(f"matmul 2048^2: {mm:.1f} GFLOP/s", flush=True)
    if args.reference == "breaching":
        rows = breaching_rows(args, mm)
        out = args.out or os.path.join(
            os.path.dirname(__file__),
            "results",
            "ig_speed_breaching" + ("_smoke" if args.smoke else "") + ".json",
        )
        save_json(
            out,
            dict(
                command=" ".join(["python", *sys.argv]),
                reference="breaching (benchmarks/torch_ig_reference.py)",
                torch=_torch_version(),
                note=args.note,
                matmul_gflops=mm,
                machine=machine_info(),
                rows=rows,
                target_speedup=2.0,
            ),
        )
        return
    widths = [4] if args.smoke else [int(w) for w in args.widths.split(",")]
    restarts_list = [1, 2] if args.smoke else [int(r) for r in args.restarts.split(",")]
    reps = reps_of(args)
    rows = []
    for w in widths:
        for r in restarts_list:
            fns = jax_setup(w, r, args.vmap_max_width)
            tstep = torch_setup(w, r)
            times = {"torch_sequential": []}
            for name in fns:
                times[name] = []
            for _ in range(reps):  # interleave
                times["torch_sequential"] += timeit(tstep, 1)
                for name, spec in fns.items():
                    times[name] += timeit(spec[0], 1)
            row = dict(width=w, restarts=r, loadavg=os.getloadavg())
            t_torch = float(np.median(times["torch_sequential"]))
            row["torch_it_per_s"] = 1.0 / t_torch  # one iteration = all R restarts stepped
            for name, spec in fns.items():
                t = float(np.median(times[name]))
                per = spec[2] if len(spec) > 2 else 1
                row[f"{name}_it_per_s"] = per / t
                row[f"{name}_gflops"] = spec[1] / t / 1e9
                row[f"{name}_speedup_vs_torch"] = (per / t) / row["torch_it_per_s"]
                row[f"{name}_frac_matmul"] = spec[1] / t / 1e9 / mm
            rows.append(row)
            print(row, flush=True)
    out = args.out or os.path.join(
        os.path.dirname(__file__),
        "results",
        "ig_speed" + ("_smoke" if args.smoke else "") + ".json",
    )
    save_json(out, dict(matmul_gflops=mm, machine=machine_info(), rows=rows))


if __name__ == "__main__":
    main()
