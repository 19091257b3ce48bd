"""Throughput levers (issue 15): each reformulation against the plain form, side by side.

DLG on DLG's sigmoid LeNet (32x32x3 -> 100 classes, photos, B = 1), the setting of
``benchmarks/dlg_speed.py``. Each lever is timed against the plain formulation in one process,
interleaved (plain, new, plain, new, ...), both warm (a compiled, already-called executable),
median and range over ``--repeats``:

* ``conv``: one objective evaluation (value and gradient through the client's gradient) with the
  LeNet's convolutions as ``lax.conv_general_dilated`` (``conv_impl="xla"``) against im2col +
  matmul (``conv_impl="im2col"``, :mod:`leakjax.models.im2col`);
* ``recursion``: one attack (``--steps`` torch-L-BFGS steps, history 100) with torch's two-loop
  recursion against the compact (matrix) form (:mod:`leakjax.attacks.optim`);
* ``batching``: ``--count`` attacks, as one compiled single run per host thread (``threads``),
  as ``jax.vmap`` over runs with per-run weights (the parameters stacked, ``vmap``), and as
  ``jax.vmap`` with the weights shared (the parameters unbatched, ``vmap_shared``), each in both
  convolution forms;
* the machine's float32 matmul rate (2048^2 ``jnp.dot``) in the same run.

Also: the share of one objective evaluation's time by XLA operation (``--profile``), from a
``jax.profiler`` trace of ``--profile-calls`` calls.

    python benchmarks/throughput_levers.py --out benchmarks/results/throughput_levers.json
"""

from __future__ import annotations

import argparse
import functools
import glob
import gzip
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ig_common import machine_info, matmul_gflops  # noqa: E402

from leakjax.attacks import dlg, run, torch_lbfgs  # noqa: E402
from leakjax.attacks.ghost import ghost_l2_distance  # noqa: E402
from leakjax.attacks.objectives import l2_distance  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import client_gradient, observe  # noqa: E402
from leakjax.models import lenet  # noqa: E402
from leakjax.types import stack_observations  # noqa: E402

NUM_IMAGES = 16


def timed(fn, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def summary(ts):
    return dict(seconds=[float(t) for t in ts], median=float(np.median(ts)), range=[min(ts), max(ts)])


def ratio(plain, new):
    r = [a / b for a, b in zip(plain, new)]
    return dict(median=float(np.median(plain) / np.median(new)), range=[min(r), max(r)])


def setup(conv_impl: str, n_max: int):
    ds = load_embedded("photos")
    idx = np.linspace(0, ds.images.shape[0] - 1, NUM_IMAGES).round().astype(int)
    images = jnp.asarray(ds.images[idx])
    labels = jnp.asarray(ds.labels[idx]).astype(jnp.int32)
    spec = ds.raw_spec()
    model = lenet(jax.random.key(1234), num_classes=100, conv_impl=conv_impl)
    obs = [
        observe(jax.random.key(0), model, images[j : j + 1], labels[j : j + 1], spec=spec)
        for j in range(NUM_IMAGES)
    ]
    keys = jnp.stack([jax.random.fold_in(jax.random.key(7), i) for i in range(n_max)])
    obs_all = stack_observations([obs[i % NUM_IMAGES] for i in range(n_max)])
    return model, spec, obs, keys, obs_all, images


def objective_fn(model, n_pix, shape, ghost=False):
    grad_fn = client_gradient(model)
    ghost_fn = ghost_l2_distance(model) if ghost else None

    def objective(flat, o):
        x = flat[:n_pix].reshape(1, *shape)
        y = jax.nn.softmax(flat[n_pix:].reshape(1, -1), axis=-1)
        if ghost_fn is not None:
            return ghost_fn(o.params, x, y, o.update)
        return l2_distance(grad_fn(o.params, x, y), o.update)

    return jax.jit(jax.value_and_grad(objective))


def profile_ops(fn, args, calls: int) -> dict:
    """Share of wall time by XLA op name over ``calls`` calls, from a jax.profiler trace."""
    tmp = tempfile.mkdtemp(prefix="leakjax-prof-")
    jax.block_until_ready(fn(*args))
    with jax.profiler.trace(tmp, create_perfetto_trace=True):
        for _ in range(calls):
            jax.block_until_ready(fn(*args))
    files = glob.glob(os.path.join(tmp, "**", "*.trace.json.gz"), recursive=True)
    if not files:
        return dict(error="no perfetto trace written")
    with gzip.open(files[0], "rt") as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    by_name: dict = {}
    for e in events:
        if e.get("ph") != "X" or "dur" not in e:
            continue
        name = str(e.get("name", ""))
        by_name.setdefault(name, [0.0, 0])
        by_name[name][0] += float(e["dur"])
        by_name[name][1] += 1
    return {k: dict(us_per_call=v[0] / calls, count_per_call=v[1] / calls) for k, v in by_name.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--levers", default="conv,ghost,recursion,batching")
    ap.add_argument("--batching", default="threads,vmap,vmap_shared")
    ap.add_argument("--conv-impls", default="xla,im2col")
    ap.add_argument("--ghost-modes", default="off", help="batching: off, on or off,on")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-calls", type=int, default=50)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    levers = args.levers.split(",")
    record = dict(
        command=" ".join(["python", *sys.argv]),
        machine=machine_info(),
        note=args.note,
        steps=args.steps,
        count=args.count,
        repeats=args.repeats,
    )
    record["matmul_gflops"] = mm = matmul_gflops()
    print(f"matmul 2048^2 float32: {mm:.1f} GFLOP/s", flush=True)
    impls = args.conv_impls.split(",")
    setups = {c: setup(c, args.count) for c in impls}
    model0, spec, obs0, keys, obs_all, images = setups[impls[0]]
    shape = tuple(images.shape[1:])
    n_pix = int(np.prod(shape))
    att0 = dlg(model0, spec=spec)
    flat0 = att0.init(jax.random.split(keys[0], 1)[0], obs0[0]).flat

    if "conv" in levers:
        fns = {}
        for c in impls:
            f = objective_fn(setups[c][0], n_pix, shape)
            fc = f.lower(flat0, setups[c][2][0]).compile()
            cost = fc.cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            fns[c] = (fc, float(cost["flops"]))
            jax.block_until_ready(fc(flat0, setups[c][2][0]))
        vals = {c: np.asarray(fns[c][0](flat0, setups[c][2][0])[1]) for c in impls}
        ts = {c: [] for c in impls}
        for _ in range(args.repeats):
            for c in impls:
                o = setups[c][2][0]
                per = [timed(fns[c][0], flat0, o) for _ in range(30)]
                ts[c].append(float(np.median(per)))
        rec = {c: dict(**summary(ts[c]), flops=fns[c][1], gflops=fns[c][1] / np.median(ts[c]) / 1e9)
               for c in impls}
        if len(impls) == 2:
            rec["speedup"] = ratio(ts[impls[0]], ts[impls[1]])
            rec["max_rel_grad_diff"] = float(
                np.abs(vals[impls[0]] - vals[impls[1]]).max() / np.abs(vals[impls[0]]).max()
            )
        record["conv"] = rec
        print("conv:", json.dumps(rec), flush=True)
        if args.profile:
            record["profile_objective"] = {
                c: profile_ops(fns[c][0], (flat0, setups[c][2][0]), args.profile_calls)
                for c in impls
            }

    if "ghost" in levers:
        c = impls[-1]
        model, _, obs, _, _, _ = setups[c]
        fns = {}
        for g in (False, True):
            fc = objective_fn(model, n_pix, shape, ghost=g).lower(flat0, obs[0]).compile()
            jax.block_until_ready(fc(flat0, obs[0]))
            fns[g] = fc
        vals = {g: fns[g](flat0, obs[0]) for g in fns}
        ts = {g: [] for g in fns}
        for _ in range(args.repeats):
            for g, fc in fns.items():
                ts[g].append(float(np.median([timed(fc, flat0, obs[0]) for _ in range(30)])))
        rec = dict(plain=summary(ts[False]), ghost=summary(ts[True]), conv_impl=c)
        rec["speedup"] = ratio(ts[False], ts[True])
        rec["value_rel_diff"] = float(abs(vals[True][0] - vals[False][0]) / abs(vals[False][0]))
        g0 = np.asarray(vals[False][1])
        rec["grad_max_rel_diff"] = float(np.abs(np.asarray(vals[True][1]) - g0).max() / np.abs(g0).max())
        record["ghost"] = rec
        print("ghost:", json.dumps(rec), flush=True)

    if "recursion" in levers:
        c = impls[-1]
        model, _, obs, _, _, _ = setups[c]
        progs = {}
        for rec_name in ("two_loop", "compact"):
            att = dlg(model, spec=spec, optimizer=torch_lbfgs(recursion=rec_name))
            f = jax.jit(functools.partial(run, att, steps=args.steps))
            fc = f.lower(keys[0], obs[0]).compile()
            progs[rec_name] = fc
            jax.block_until_ready(fc(keys[0], obs[0]))
        ts = {k: [] for k in progs}
        for _ in range(args.repeats):
            for k, fc in progs.items():
                ts[k].append(timed(fc, keys[0], obs[0]))
        losses = {k: float(progs[k](keys[0], obs[0]).loss) for k in progs}
        rec = {k: summary(v) for k, v in ts.items()}
        rec["speedup"] = ratio(ts["two_loop"], ts["compact"])
        rec["final_loss"] = losses
        rec["conv_impl"] = c
        record["recursion"] = rec
        print("recursion:", json.dumps(rec), flush=True)

    if "batching" in levers:
        n = args.count
        strategies = args.batching.split(",")
        rec = {}
        threads = os.cpu_count() or 1
        progs = {}
        for c, gm in [(c, gm) for c in impls for gm in args.ghost_modes.split(",")]:
            model, _, obs, _, obs_stack, _ = setups[c]
            att = dlg(model, spec=spec, ghost=gm == "on")

            def one(k, o, att=att):
                return run(att, k, o, steps=args.steps)

            for s0 in strategies:
                s = s0 + ("+ghost" if gm == "on" else "")
                t0 = time.perf_counter()
                if s0 == "threads":
                    fc = jax.jit(one).lower(keys[0], obs[0]).compile()
                elif s0 == "vmap":
                    fc = jax.jit(jax.vmap(one)).lower(keys[:n], obs_stack).compile()
                elif s0 == "vmap_shared":
                    shared = obs_stack.replace(params=obs[0].params)
                    axes = obs_stack.replace(
                        update=jax.tree.map(lambda _: 0, obs_stack.update),
                        params=jax.tree.map(lambda _: None, obs_stack.params),
                    )
                    fc = jax.jit(jax.vmap(one, in_axes=(0, axes))).lower(keys[:n], shared).compile()
                    obs_stack_s = shared
                else:
                    raise SystemExit(f"unknown batching {s!r}")
                comp = time.perf_counter() - t0
                progs[(c, s)] = (fc, comp, obs_stack_s if s0 == "vmap_shared" else obs_stack, obs)

        def run_prog(c, s):
            fc, _, ost, obs = progs[(c, s)]
            if s.startswith("threads"):
                def item(i):
                    return jax.block_until_ready(fc(keys[i], obs[i % NUM_IMAGES]))

                t0 = time.perf_counter()
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(item, range(n)))
                return time.perf_counter() - t0
            return timed(fc, keys[:n], ost)

        for key in progs:
            run_prog(*key)  # warm-up
        ts = {k: [] for k in progs}
        for _ in range(args.repeats):
            for k in progs:
                ts[k].append(run_prog(*k))
                print(f"  {k}: {ts[k][-1]:.2f} s", flush=True)
        for (c, s), v in ts.items():
            rec[f"{c}/{s}"] = dict(**summary(v), attacks_per_s=n / float(np.median(v)),
                                   compile_seconds=progs[(c, s)][1])
        k0 = next(iter(ts))
        for k, v in ts.items():
            rec[f"{k[0]}/{k[1]}"][f"vs_{k0[0]}/{k0[1]}"] = ratio(ts[k0], v)
        record["batching"] = rec
        print("batching:", json.dumps(rec), flush=True)

    record["loadavg_end"] = list(os.getloadavg())
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1, default=float)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
