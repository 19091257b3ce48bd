"""The sweep engine's overhead over bare ``run_batch``, resume time, and SIGKILL/resume at size.

Overhead: a 256-run DLG sweep on DLG's sigmoid LeNet (32x32x3, 100 classes, 16 photos x 16
seeds, B = 1, ``--steps`` L-BFGS steps) run by ``leakjax.sweep.run_sweep`` into a fresh store,
against the same runs done by hand: ``fl.observe`` for every victim and ``attacks.run_batch``
over the stacked observations. Both sides first run once cold (compiling); then ``--repeats`` warm
runs of each are timed, alternating, each engine run into a fresh store (the engine reuses its
compiled group within a process, the bare side its jitted functions). Repeats give median and
range. The engine's side includes what the bare side does not: the metrics (MSE, PSNR, SSIM,
LPIPS), the store writes and the planning.

Resume: ``run_sweep`` on the finished store (nothing to do).

Kill/resume: the same sweep run in a subprocess, SIGKILLed at ``--kills`` random moments and
resumed each time, then finished; the final store is compared run by run with the
uninterrupted one (lost, duplicated, identical metrics).

    python benchmarks/sweep_engine.py --out benchmarks/results/sweep_engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

SWEEP_TEXT = """
from leakjax.sweep import Attack, Data, Model, Sweep, axis, product, seeds
SWEEP = Sweep("engine_overhead", runs=product(
    axis("attack", [Attack("dlg", steps={steps})]),
    axis("model", [Model("lenet", num_classes=100)]),
    axis("data", [Data("photos", victims={victims})]),
    seeds({seeds})))
"""


def write_sweep(folder, steps, victims, seeds):
    path = os.path.join(folder, "engine_sweep.py")
    with open(path, "w") as f:
        f.write(SWEEP_TEXT.format(steps=steps, victims=victims, seeds=seeds))
    return path


def make_bare(steps, victims, seeds):
    """The same runs without the engine: observe every victim, stack, ``run_batch`` (threads
    on CPU). Returns a function doing it all; its first call compiles, later calls are warm."""
    from leakjax import attacks, data, fl, models
    from leakjax.sweep.engine import run_key
    from leakjax.types import stack_observations

    ds = data.load_embedded("photos", split="private", num_images=victims)
    spec = ds.raw_spec()
    model = models.lenet(jax.random.key(0), num_classes=100)
    obs_fn = jax.jit(lambda k, x, y: fl.observe(k, model, x, y, spec=spec))
    attack = attacks.dlg(model, spec=spec)

    def run():
        keys, obs = [], []
        for s in range(seeds):
            for v in range(victims):
                k = run_key(s, v)
                keys.append(jax.random.fold_in(k, 2))
                obs.append(obs_fn(jax.random.fold_in(k, 1), jnp.asarray(ds.images[v : v + 1]),
                                  jnp.asarray(ds.labels[v : v + 1])))
        r = attacks.run_batch(attack, jnp.stack(keys), stack_observations(obs), steps=steps)
        return jax.block_until_ready(r)

    return run


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--victims", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "sweep_engine.json"))
    ap.add_argument("--kill-only", action="store_true",
                    help="only the kill/resume part (one uninterrupted reference run first); "
                    "its result replaces 'kill_resume' in an existing --out JSON")
    a = ap.parse_args(argv)
    if a.kill_only:
        return kill_only(a, argv)
    from leakjax.sweep import load, load_sweep_file, run_sweep

    tmp = tempfile.mkdtemp(prefix="leakjax-engine-")
    path = write_sweep(tmp, a.steps, a.victims, a.seeds)
    sweep, src = load_sweep_file(path)
    n = a.victims * a.seeds
    bare = make_bare(a.steps, a.victims, a.seeds)
    t_bare_cold, _ = timed(bare)  # compiles the bare side
    t_eng_cold, _ = timed(lambda: run_sweep(sweep, os.path.join(tmp, "cold.sqlite"),
                                            progress=False))  # compiles the engine's group
    eng, eng_compile, bar = [], [], []
    last_store = None
    for i in range(a.repeats):
        store = os.path.join(tmp, f"s{i}.sqlite")
        logs = []
        t_eng, _ = timed(lambda s=store, lg=logs: run_sweep(sweep, s, progress=False,
                                                            log=lg.append))
        comp = sum(float(m.split("compiled in ")[1].split("s")[0]) for m in logs
                   if "compiled in" in m)
        eng.append(t_eng)
        eng_compile.append(comp)
        t_bare, _ = timed(bare)
        bar.append(t_bare)
        last_store = store
        print(f"repeat {i}: engine {t_eng:.2f}s (compile {comp:.2f}s), bare {t_bare:.2f}s",
              flush=True)
    t_resume, _ = timed(lambda: run_sweep(sweep, last_store, progress=False))
    overhead = [e / b - 1 for e, b in zip(eng, bar)]
    # the engine's share that the bare side does not do: the metrics of every run (MSE, PSNR,
    # SSIM, LPIPS-VGG and -AlexNet) in the engine's chunks, timed on their own (warm)
    chunk = int(logs[-1].split("chunks of ")[1].split(" ")[0]) if logs else n
    t_metrics = metric_seconds(n, chunk, a.repeats)
    without = [(e - t_metrics["median"]) / b - 1 for e, b in zip(eng, bar)]
    result = dict(
        runs=n,
        steps=a.steps,
        cold_engine_seconds=t_eng_cold,
        cold_bare_seconds=t_bare_cold,
        engine_seconds=eng,
        engine_compile_seconds_in_warm_runs=eng_compile,
        bare_run_batch_seconds=bar,
        overhead_warm=dict(median=float(np.median(overhead)), min=float(np.min(overhead)),
                           max=float(np.max(overhead))),
        resume_finished_seconds=t_resume,
        metrics_seconds=t_metrics,
        metrics_chunk_size=chunk,
        overhead_warm_without_metrics=dict(
            median=float(np.median(without)), min=float(np.min(without)),
            max=float(np.max(without))),
    )
    print(json.dumps(result, indent=1), flush=True)
    if a.kills:
        result["kill_resume"] = kill_resume(path, last_store, a.kills, tmp)
    result["machine"] = dict(cores=os.cpu_count(), jax=jax.__version__,
                             backend=jax.default_backend(), load=os.getloadavg())
    result["command"] = "python benchmarks/sweep_engine.py " + " ".join(argv or sys.argv[1:])
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    df = load(last_store)
    print(f"wrote {a.out}; {len(df)} runs in the reference store")


def metric_seconds(n, chunk, repeats):
    """Seconds for the engine's metrics of ``n`` 32x32x3 runs (B = 1) in chunks of ``chunk``
    (``build.image_metrics`` and ``build.lpips_metrics``, padded as the engine pads), warm:
    median and range of ``repeats``."""
    from leakjax.data import load_embedded
    from leakjax.sweep import build

    spec = load_embedded("photos").spec
    rng = np.random.default_rng(0)
    recon = rng.uniform(size=(n, 1, 32, 32, 3)).astype(np.float32)
    truth = rng.uniform(size=(n, 1, 32, 32, 3)).astype(np.float32)

    def all_chunks():
        for i in range(0, n, chunk):
            r, t = recon[i : i + chunk], truth[i : i + chunk]
            build.image_metrics(r, t, spec, pad_to=chunk)
            build.lpips_metrics(r, t, pad_to=chunk)

    all_chunks()  # compile
    ts = [timed(all_chunks)[0] for _ in range(max(1, repeats))]
    return dict(median=float(np.median(ts)), min=float(np.min(ts)), max=float(np.max(ts)))


def kill_only(a, argv):
    from leakjax.sweep import load_sweep_file, run_sweep

    tmp = tempfile.mkdtemp(prefix="leakjax-engine-")
    path = write_sweep(tmp, a.steps, a.victims, a.seeds)
    sweep, _ = load_sweep_file(path)
    reference = os.path.join(tmp, "reference.sqlite")
    run_sweep(sweep, reference, progress=False, max_chunk=8)
    kr = kill_resume(path, reference, a.kills, tmp)
    print(json.dumps(kr, indent=1), flush=True)
    result = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            result = json.load(f)
    result["kill_resume"] = kr
    result["kill_resume_command"] = "python benchmarks/sweep_engine.py " + " ".join(
        argv or sys.argv[1:])
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


WORKER = """
import sys
from leakjax.sweep import load_sweep_file, run_sweep
s, _ = load_sweep_file(sys.argv[1])
run_sweep(s, sys.argv[2], progress=False, max_chunk=int(sys.argv[3]))
"""


def kill_resume(sweep_path, reference, kills, tmp, max_chunk=8):
    from leakjax.sweep import load
    from leakjax.sweep.store import Store

    store = os.path.join(tmp, "killed.sqlite")
    worker = os.path.join(tmp, "worker.py")
    with open(worker, "w") as f:
        f.write(WORKER)
    rng = random.Random(0)
    ref = load(reference).set_index("run_id").sort_index()
    total = len(ref)
    seen, lost_events, counts, done_kills = set(), 0, [], 0

    def count():
        try:
            with Store(store, readonly=True) as s:
                return s.count()
        except Exception:  # noqa: BLE001
            return 0

    # the kill moments: `kills` distinct row counts spread over the whole sweep (each kill lands
    # a random 0-1 s after its count is reached, so inside a chunk, a commit or a compile)
    targets = sorted(rng.sample(range(1, total), min(kills, total - 1)))
    while done_kills < kills:
        pending = [t for t in targets if t > count()]
        if not pending:
            break
        target = pending[0]
        p = subprocess.Popen([sys.executable, worker, sweep_path, store, str(max_chunk)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and count() < target:
            time.sleep(0.01)
        if p.poll() is None:
            time.sleep(rng.uniform(0.0, 1.0))
            p.send_signal(signal.SIGKILL)
            done_kills += 1
        p.wait()
        with Store(store, readonly=True) as s:
            ids = set(s.statuses())
        lost_events += len(seen - ids)
        seen = ids
        counts.append(len(ids))
        if len(ids) == total:
            break
    subprocess.run([sys.executable, worker, sweep_path, store, str(max_chunk)], check=True)
    got = load(store).set_index("run_id").sort_index()
    cols = ["status", "loss", "mse", "psnr", "ssim", "label_acc", "upload_bits"]
    identical = list(got.index) == list(ref.index) and bool(
        (got[cols].fillna(-1).to_numpy() == ref[cols].fillna(-1).to_numpy()).all()
    )
    return dict(kills=done_kills, rows_after_each_kill=counts, lost=lost_events,
                duplicated=int(len(got) - got.index.nunique()), final_rows=len(got),
                identical_to_uninterrupted=identical)


if __name__ == "__main__":
    main()
