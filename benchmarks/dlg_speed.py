"""DLG speed: leakjax against a PyTorch implementation of the reference setup (issue 2).

Both frameworks run DLG (card 1) on the same images, the same initial weights (one sigmoid
LeNet, 100 classes, U(-0.5, 0.5), converted from leakjax's Flax params to torch by
``benchmarks/torch_reference.py``), the same starting points (the N(0, 1) draw leakjax's
``dlg`` makes for run i's key, converted to NCHW for torch) and the same budget: ``--steps``
L-BFGS steps of at most 20 closure evaluations each (300 steps = up to 6000 evaluations in the
reference). Run i attacks embedded photo ``i mod 16`` with start key ``fold_in(key(7), i)``.

Measured, in one process:

* per-attack wall time: torch (``torch.optim.LBFGS`` loop) and leakjax (``leakjax.attacks.run``
  under ``jax.jit``; compile time separately as ``lower().compile()``, ``block_until_ready``).
  **Both warm**: one untimed warm-up attack each (torch's first attack pays for its allocator,
  autograd and thread-pool start-up, leakjax's first call for loading the executable), then
  ``--repeats`` timed attacks interleaved (torch, leakjax, torch, leakjax, ...); the JSON keeps
  every repeat and the README reports the median and the range (the speedup is the ratio of
  the medians; its range is the min and max of the per-repeat ratios);
* attacks per second for each count N in ``--counts`` (``--throughput-repeats`` times, median
  and range): torch as a sequential loop (N runs, after the warm-up above); leakjax
  with each batching strategy of ``leakjax.attacks.run_batch``: ``vmap`` (``jit(vmap(run))``
  with the stacked observations, weights batched per run), ``vmap_shared`` (the same with the
  weights unbatched, as ``run_batch`` does when every run shares them: the forward pass batches
  as one matmul over all runs), ``map`` (``jit(lax.map(run))``) and ``threads`` (one compiled
  ``run`` dispatched from one host thread per core);
* torch's best use of the cores at ``max(--counts)`` runs (``--torch-procs``, issue 15):
  ``P`` worker processes with one intra-op thread each, the runs split between them, started
  together after a warm-up attack in each (``benchmarks/_torch_parallel.py``), and one process
  with ``P`` intra-op threads (its sequential time = runs x its per-attack median). The
  leakjax strategies are compared with the fastest torch configuration. The programs are built exactly as ``run_batch`` builds them but compiled once
  ahead of time, so compile time is reported separately from the steady-state time
  (``run_batch`` itself re-traces and re-compiles on every call);
* achieved GFLOP/s = XLA's cost-analysis flops of one objective evaluation (value and gradient,
  B = 1) x objective evaluations actually made / time, next to the float32 2048x2048 matmul
  GFLOP/s of ``jnp`` and of torch on the same machine. Evaluations: leakjax's own
  ``TorchLBFGSState.func_evals`` for the single attack, torch's ``func_evals`` counter for torch
  (and, for leakjax batches, the torch counts of the same runs, a proxy: see the README);
* whether the final reconstructions agree: MSE to the ground truth of each run for both.

Targets: leakjax >= 5x torch per attack, >= 10x torch's throughput at 64 runs.

Usage:
  python benchmarks/dlg_speed.py                           # full: 300 steps, 1/8/32/64 runs
  python benchmarks/dlg_speed.py --steps 20 --counts 1,8   # reduced
  python benchmarks/dlg_speed.py --smoke                   # 5 steps, counts 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import torch
from jax import lax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as tref  # noqa: E402

from leakjax.attacks import dlg, run  # noqa: E402
from leakjax.attacks.objectives import l2_distance  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import client_gradient, observe  # noqa: E402
from leakjax.models import lenet  # noqa: E402
from leakjax.types import stack_observations  # noqa: E402

NUM_IMAGES = 16
SUCCESS_MSE = 1e-3


def machine_info() -> dict:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), ""
        )
    except OSError:
        model = platform.processor()
    import jaxlib

    return dict(
        cpu_model=model,
        cores=os.cpu_count(),
        python=platform.python_version(),
        jax=jax.__version__,
        jaxlib=jaxlib.__version__,
        torch=torch.__version__,
        torch_num_threads=torch.get_num_threads(),
        jax_backend=jax.default_backend(),
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )


def matmul_gflops(repeats: int = 5, n: int = 2048) -> dict:
    flops = 2.0 * n**3
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    tj = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, a).block_until_ready()
        tj.append(time.perf_counter() - t0)
    b = torch.randn(n, n)
    b @ b
    tt = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        b @ b
        tt.append(time.perf_counter() - t0)
    return dict(jax=flops / min(tj) / 1e9, torch=flops / min(tt) / 1e9)


def timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--counts", default="1,8,32,64")
    ap.add_argument("--strategies", default="vmap,map,threads")
    ap.add_argument(
        "--torch-threads",
        default="1,default",
        help="torch intra-op thread settings timed per attack; the fastest is used for the "
        "sequential throughput loop ('default' = torch's own choice)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="per-attack timing repeats")
    ap.add_argument(
        "--throughput-repeats", type=int, default=3, help="repeats of the throughput table"
    )
    ap.add_argument(
        "--torch-procs",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel single-thread torch processes at max(--counts) runs (0: skip)",
    )
    ap.add_argument("--smoke", action="store_true", help="5 steps, counts 1,2, 1 repeat")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--note", default="", help="recorded in the JSON, e.g. 'flock -x (exclusive lock, quiet)'"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.counts, args.repeats, args.throughput_repeats = 5, "1,2", 2, 1
    counts = sorted({int(c) for c in args.counts.split(",")})
    strategies = [s for s in args.strategies.split(",") if s]
    if args.steps < 1 or min(counts) < 1 or args.repeats < 1 or args.throughput_repeats < 1:
        raise SystemExit("dlg_speed: --steps, --counts and --repeats must be positive")
    out_path = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "results",
        "dlg_speed_smoke.json" if args.smoke else "dlg_speed.json",
    )
    steps, n_max = args.steps, max(counts)
    record = dict(
        command=" ".join([os.path.basename(sys.executable), *sys.argv]),
        machine=machine_info(),
        load_avg_start=list(os.getloadavg()),
        steps=steps,
        counts=counts,
        strategies=strategies,
        note=args.note,
    )
    print(f"load average at start: {record['load_avg_start']}", flush=True)

    # ---- data, model, observations, starting points -------------------------------------
    ds = load_embedded("photos")
    idx = np.linspace(0, ds.images.shape[0] - 1, NUM_IMAGES).round().astype(int)
    images = jnp.asarray(ds.images[idx])
    labels = jnp.asarray(ds.labels[idx]).astype(jnp.int32)
    spec = ds.raw_spec()
    model = lenet(jax.random.key(1234), num_classes=100)
    obs_img = [
        observe(jax.random.key(0), model, images[j : j + 1], labels[j : j + 1], spec=spec)
        for j in range(NUM_IMAGES)
    ]
    run_img = [i % NUM_IMAGES for i in range(n_max)]
    keys = jnp.stack([jax.random.fold_in(jax.random.key(7), i) for i in range(n_max)])
    obs_all = stack_observations([obs_img[j] for j in run_img])
    attack = dlg(model, spec=spec)
    n_pix = int(np.prod(images.shape[1:]))
    # run() draws the start of restart 0 from split(key, 1)[0]
    init_flat = jax.jit(jax.vmap(lambda k, o: attack.init(jax.random.split(k, 1)[0], o).flat))
    flats = np.asarray(init_flat(keys, obs_all))

    # ---- torch reference setup ------------------------------------------------------------
    tmodel = tref.model_from_flax(model.params)
    x_t = tref.nhwc_to_nchw(images)
    y_t = torch.from_numpy(np.array(labels))
    tgrads = [
        tref.client_gradient(tmodel, x_t[j : j + 1], y_t[j : j + 1]) for j in range(NUM_IMAGES)
    ]
    gerr = max(
        float(torch.max(torch.abs(a - b)))
        for j in range(NUM_IMAGES)
        for a, b in zip(tgrads[j], tref.grads_from_flax(obs_img[j].update))
    )
    record["max_abs_grad_diff_torch_vs_leakjax"] = gerr
    print(f"shared gradient, torch vs leakjax: max abs diff {gerr:.2e}", flush=True)

    def torch_run(i):
        f = flats[i]
        x0 = tref.nhwc_to_nchw(f[:n_pix].reshape(1, *images.shape[1:]))
        z0 = torch.from_numpy(f[n_pix:].reshape(1, -1).copy())
        return tref.dlg_attack(tmodel, tgrads[run_img[i]], x0, z0, steps=steps)

    # ---- XLA cost of one objective evaluation ----------------------------------------------
    grad_fn = client_gradient(model)

    def objective(flat, obs):
        x = flat[:n_pix].reshape(1, *images.shape[1:])
        z = flat[n_pix:].reshape(1, -1)
        return l2_distance(grad_fn(obs.params, x, jax.nn.softmax(z, axis=-1)), obs.update)

    vg = jax.jit(jax.value_and_grad(objective))
    vg_c = vg.lower(jnp.asarray(flats[0]), obs_img[0]).compile()
    cost = vg_c.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops_eval = float(cost["flops"])
    _, _ = timed(vg_c, jnp.asarray(flats[0]), obs_img[0])
    t_eval = min(timed(vg_c, jnp.asarray(flats[0]), obs_img[0])[1] for _ in range(20))
    record["flops_per_eval"] = flops_eval
    record["seconds_per_eval_leakjax"] = t_eval
    print(
        f"one objective evaluation: {flops_eval / 1e6:.2f} MFLOP, {t_eval * 1e3:.2f} ms", flush=True
    )

    mm = matmul_gflops()
    record["matmul_gflops"] = mm
    print(
        f"matmul 2048^2 float32: jax {mm['jax']:.1f} GFLOP/s, torch {mm['torch']:.1f}", flush=True
    )

    # ---- per attack: leakjax single run, compile separately --------------------------------
    single = jax.jit(lambda k, o: run(attack, k, o, steps=steps))
    obs0 = obs_img[run_img[0]]
    t0 = time.perf_counter()
    single_c = single.lower(keys[0], obs0).compile()
    compile_single = time.perf_counter() - t0
    res0, warm = timed(single_c, keys[0], obs0)

    # leakjax's own evaluation count for run 0 (same scan as run(), returning the state)
    def count_evals(k, o):
        s = attack.init(jax.random.split(k, 1)[0], o)
        s, _ = lax.scan(lambda s, _: attack.step(s, o), s, None, length=steps)
        return s.opt_state.func_evals

    evals_jax0 = int(jax.jit(count_evals)(keys[0], obs0))

    default_threads = torch.get_num_threads()
    thread_settings = [
        default_threads if t == "default" else int(t) for t in args.torch_threads.split(",")
    ]
    thread_settings = list(dict.fromkeys(thread_settings))
    torch_times = {t: [] for t in thread_settings}
    torch_warmup = {}
    for nt in thread_settings:  # one untimed warm-up attack per setting (both sides warm)
        torch.set_num_threads(nt)
        torch_warmup[str(nt)] = torch_run(0)["seconds"]
        print(f"  warm-up: torch ({nt} threads) {torch_warmup[str(nt)]:.2f} s", flush=True)
    jax_times, torch_res0 = [], None
    for _ in range(args.repeats):
        for nt in thread_settings:
            torch.set_num_threads(nt)
            r = torch_run(0)
            torch_times[nt].append(r["seconds"])
            torch_res0 = r
            print(f"  per attack: torch ({nt} threads) {r['seconds']:.2f} s", flush=True)
        _, t = timed(single_c, keys[0], obs0)
        jax_times.append(t)
        print(f"  per attack: leakjax {t:.2f} s", flush=True)
    best_threads = min(thread_settings, key=lambda t: float(np.median(torch_times[t])))
    torch.set_num_threads(best_threads)
    t_torch1 = float(np.median(torch_times[best_threads]))
    t_jax1 = float(np.median(jax_times))
    pair_ratios = [a / b for a, b in zip(torch_times[best_threads], jax_times)]
    record["per_attack"] = dict(
        timing="both warm (one untimed warm-up attack each), repeats interleaved",
        torch_warmup_seconds_by_threads=torch_warmup,
        torch_seconds_by_threads={str(t): v for t, v in torch_times.items()},
        torch_threads_used=best_threads,
        torch_seconds=torch_times[best_threads],
        leakjax_seconds=jax_times,
        torch_seconds_median=t_torch1,
        leakjax_seconds_median=t_jax1,
        leakjax_compile_seconds=compile_single,
        leakjax_first_call_seconds=warm,
        torch_func_evals=torch_res0["func_evals"],
        leakjax_func_evals=evals_jax0,
        speedup=t_torch1 / t_jax1,
        speedup_per_repeat=pair_ratios,
        speedup_range=[min(pair_ratios), max(pair_ratios)],
        torch_gflops=flops_eval * torch_res0["func_evals"] / t_torch1 / 1e9,
        leakjax_gflops=flops_eval * evals_jax0 / t_jax1 / 1e9,
        torch_loss_trace_first=torch_res0["losses"][:10],
        leakjax_loss_trace_first=[float(v) for v in np.asarray(res0.loss_trace)[:10]],
        target_speedup=5.0,
    )

    # ---- throughput: torch sequential over n_max runs, leakjax strategies; repeated -------
    def one(k, o):
        return run(attack, k, o, steps=steps)

    threads = os.cpu_count() or 1
    programs = {}
    shared_axes = obs_all.replace(  # runs share the weights: params unbatched
        update=jax.tree.map(lambda _: 0, obs_all.update),
        params=jax.tree.map(lambda _: None, obs_all.params),
    )
    for n in counts:
        ks = keys[:n]
        os_ = jax.tree.map(lambda x, n=n: x[:n], obs_all)
        for strat in strategies:
            if strat == "threads":
                programs[(n, strat)] = (None, 0.0)  # reuses the single-run executable
                continue
            if strat == "vmap":
                f = jax.jit(jax.vmap(one))
            elif strat == "vmap_shared":
                f = jax.jit(jax.vmap(one, in_axes=(0, shared_axes)))
            elif strat == "map":
                f = jax.jit(lambda ks, os_: lax.map(lambda a: one(*a), (ks, os_)))
            else:
                raise SystemExit(f"dlg_speed: unknown strategy {strat!r}")
            o_in = os_.replace(params=obs0.params) if strat == "vmap_shared" else os_
            t0 = time.perf_counter()
            fc = f.lower(ks, o_in).compile()
            programs[(n, strat)] = (fc, time.perf_counter() - t0)
            jax.block_until_ready(fc(ks, o_in))  # warm-up call
    if "threads" in strategies:
        jax.block_until_ready(single_c(keys[0], obs0))

    def leakjax_batch(n, strat):
        ks = keys[:n]
        os_ = jax.tree.map(lambda x, n=n: x[:n], obs_all)
        if strat == "vmap_shared":
            os_ = os_.replace(params=obs0.params)
        if strat == "threads":

            def item(i, ks=ks, os_=os_):
                o = jax.tree.map(lambda x: x[i], os_)
                return jax.block_until_ready(single_c(ks[i], o))

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                results = list(pool.map(item, range(n)))
            return jax.tree.map(lambda *xs: jnp.stack(xs), *results), time.perf_counter() - t0
        return timed(programs[(n, strat)][0], ks, os_)

    torch_cum, secs_by = [], {(n, s_): [] for n in counts for s_ in strategies}
    torch_runs, leakjax_final = None, None
    for rep_i in range(args.throughput_repeats):
        runs_t = [torch_run(i) for i in range(n_max)]
        torch_cum.append(np.cumsum([r["seconds"] for r in runs_t]))
        torch_runs = torch_runs or runs_t
        print(
            f"torch ({best_threads} threads): {n_max} runs in {torch_cum[-1][-1]:.1f} s", flush=True
        )
        for n in counts:
            for strat in strategies:
                res, secs = leakjax_batch(n, strat)
                secs_by[(n, strat)].append(secs)
                print(
                    f"  repeat {rep_i} N={n:3d} {strat:7s}: {secs:8.2f} s, {n / secs:7.3f} "
                    f"attacks/s, {float(torch_cum[-1][n - 1]) / secs:5.2f}x torch",
                    flush=True,
                )
                if n == n_max and (leakjax_final is None or strat == "threads"):
                    leakjax_final = res
    evals_torch = np.array([r["func_evals"] for r in torch_runs])
    torch_best = dict(
        config=f"1 process, {best_threads} thread(s), sequential",
        seconds=[float(c[n_max - 1]) for c in torch_cum],
    )
    torch_configs = {torch_best["config"]: torch_best["seconds"]}
    if args.torch_procs > 1:
        from _torch_parallel import parallel_dlg

        payload = dict(
            model_kwargs=dict(channels=int(images.shape[-1]), hidden=768, num_classes=100),
            state_dict={k: v.clone() for k, v in tmodel.state_dict().items()},
            tgrads=[[g.detach().clone() for g in tg] for tg in tgrads],
            flats=flats,
            image_shape=tuple(images.shape[1:]),
            n_pix=n_pix,
            steps=steps,
            run_img=run_img,
        )
        par = parallel_dlg(
            args.torch_procs, 1, payload, list(range(n_max)), args.throughput_repeats
        )
        name = f"{args.torch_procs} processes x 1 thread, runs split between them"
        torch_configs[name] = par["wall_seconds"]
        print(f"torch {name}: {n_max} runs in {par['wall_seconds']} s", flush=True)
        if args.torch_procs in torch_times:  # one process, P intra-op threads
            name_t = f"1 process, {args.torch_procs} threads, sequential (runs x per-attack median)"
            torch_configs[name_t] = [n_max * float(np.median(torch_times[args.torch_procs]))]
    best_cfg = min(torch_configs, key=lambda k: float(np.median(torch_configs[k])))
    t_best = torch_configs[best_cfg]
    record["torch_at_max_count"] = dict(
        count=n_max,
        seconds_by_config=torch_configs,
        attacks_per_s_by_config={k: n_max / float(np.median(v)) for k, v in torch_configs.items()},
        best_config=best_cfg,
        best_attacks_per_s=n_max / float(np.median(t_best)),
    )
    for strat in strategies:
        secs = secs_by[(n_max, strat)]
        ratios = [float(np.median(t_best)) / b for b in secs]
        record["torch_at_max_count"][f"{strat}_vs_best_torch"] = dict(
            median=float(np.median(t_best)) / float(np.median(secs)),
            range=[min(ratios), max(ratios)],
        )
    record["target_throughput_ratio_vs_best_torch"] = 10.0
    throughput = []
    for n in counts:
        t_torch = [float(c[n - 1]) for c in torch_cum]
        row = dict(
            count=n,
            torch_seconds=t_torch,
            torch_seconds_median=float(np.median(t_torch)),
            torch_attacks_per_s=n / float(np.median(t_torch)),
            torch_gflops=flops_eval
            * float(evals_torch[:n].sum())
            / float(np.median(t_torch))
            / 1e9,
        )
        for strat in strategies:
            secs = secs_by[(n, strat)]
            med = float(np.median(secs))
            ratios = [a / b for a, b in zip(t_torch, secs)]
            row[strat] = dict(
                seconds=secs,
                seconds_median=med,
                compile_seconds=programs[(n, strat)][1],
                attacks_per_s=n / med,
                attacks_per_s_range=[n / max(secs), n / min(secs)],
                gflops_torch_eval_count=flops_eval * float(evals_torch[:n].sum()) / med / 1e9,
                vs_torch=float(np.median(t_torch)) / med,
                vs_torch_per_repeat=ratios,
                vs_torch_range=[min(ratios), max(ratios)],
            )
        best = max(strategies, key=lambda s_: row[s_]["attacks_per_s"])
        row["best_strategy"] = best
        row["best_vs_torch"] = row[best]["vs_torch"]
        throughput.append(row)
    record["throughput"] = throughput
    record["target_throughput_ratio_at_64"] = 10.0

    # ---- do the reconstructions agree? --------------------------------------------------------
    gt = np.asarray(images)[run_img]
    rec_t = np.stack([tref.nchw_to_nhwc(r["data"])[0] for r in torch_runs])
    mse_t = np.mean((np.clip(rec_t, 0, 1) - gt) ** 2, axis=(1, 2, 3))
    lab_t = np.array([int(r["label"][0]) for r in torch_runs])
    mse_j = np.mean((np.asarray(leakjax_final.inputs)[:, 0] - gt) ** 2, axis=(1, 2, 3))
    lab_j = np.asarray(leakjax_final.labels)[:, 0]
    true = np.asarray(labels)[run_img]
    record["reconstructions"] = dict(
        note="MSE in [0, 1] space after clipping to [0, 1]; run i = photo i mod 16",
        torch_mse=[float(v) for v in mse_t],
        leakjax_mse=[float(v) for v in mse_j],
        torch_success_rate=float(np.mean(mse_t < SUCCESS_MSE)),
        leakjax_success_rate=float(np.mean(mse_j < SUCCESS_MSE)),
        both_succeed_or_both_fail=float(np.mean((mse_t < SUCCESS_MSE) == (mse_j < SUCCESS_MSE))),
        torch_label_accuracy=float(np.mean(lab_t == true)),
        leakjax_label_accuracy=float(np.mean(lab_j == true)),
        torch_func_evals=[int(v) for v in evals_torch],
    )
    record["load_avg_end"] = list(os.getloadavg())

    # ---- table -------------------------------------------------------------------------------
    pa = record["per_attack"]
    print()
    print(
        f"DLG, sigmoid LeNet 32x32x3 -> 100, {steps} L-BFGS steps; load {record['load_avg_start']}"
    )
    print(
        f"per attack: torch {t_torch1:.2f} s ({best_threads} threads, {pa['torch_func_evals']} evals, "
        f"{pa['torch_gflops']:.2f} GFLOP/s) | leakjax {t_jax1:.2f} s + compile "
        f"{compile_single:.1f} s ({evals_jax0} evals, {pa['leakjax_gflops']:.2f} GFLOP/s) | "
        f"speedup {pa['speedup']:.2f}x, range {pa['speedup_range'][0]:.2f}-"
        f"{pa['speedup_range'][1]:.2f}x over {len(jax_times)} repeats (medians; target 5x)"
    )
    print(f"matmul GFLOP/s: jax {mm['jax']:.1f}, torch {mm['torch']:.1f}")
    hdr = f"{'N':>4} {'torch/s':>9}" + "".join(f" {s + '/s':>10} {'x':>6}" for s in strategies)
    print(hdr)
    for row in throughput:
        line = f"{row['count']:4d} {row['torch_attacks_per_s']:9.3f}"
        for s in strategies:
            line += f" {row[s]['attacks_per_s']:10.3f} {row[s]['vs_torch']:6.2f}"
        print(line)
    tb = record["torch_at_max_count"]
    print(f"torch at {n_max} runs, by configuration (attacks/s): {tb['attacks_per_s_by_config']}")
    for strat in strategies:
        v = tb[f"{strat}_vs_best_torch"]
        print(
            f"  leakjax {strat} vs the best torch configuration ({tb['best_config']}): "
            f"{v['median']:.2f}x (range {v['range'][0]:.2f}-{v['range'][1]:.2f}; target 10x)"
        )
    rc = record["reconstructions"]
    print(
        f"success (MSE<{SUCCESS_MSE}): torch {rc['torch_success_rate']:.2f}, leakjax "
        f"{rc['leakjax_success_rate']:.2f}; label acc torch {rc['torch_label_accuracy']:.2f}, "
        f"leakjax {rc['leakjax_label_accuracy']:.2f}"
    )
    print(f"load average at end: {record['load_avg_end']}")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as fh:
        json.dump(record, fh, indent=1)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
