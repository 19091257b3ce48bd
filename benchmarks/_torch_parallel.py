"""torch DLG attacks in parallel worker processes (the reference's best use of several cores).

``parallel_dlg(procs, threads, payload, runs, repeats)`` starts ``procs`` worker processes
(``spawn``), each with ``threads`` intra-op threads. Each worker builds the torch LeNet from the
payload, runs one untimed warm-up attack (both sides warm), and reports ready. Then, per repeat,
the parent sends every worker its share of the runs (round robin) at the same moment and times
the wall clock until the last worker has answered. Returns the wall seconds per repeat and, from
the first repeat, each run's result (final image, label, evaluations).

The payload is plain data (a torch ``state_dict``, the target gradients per image, the start
vectors), so nothing but this module has to be importable in the workers.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import time


def _worker(conn, payload: dict, threads: int):
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_reference as tref

    tmodel = tref.SigmoidLeNet(**payload["model_kwargs"])
    tmodel.load_state_dict(payload["state_dict"])
    tgrads, flats = payload["tgrads"], payload["flats"]
    shape, n_pix, steps = payload["image_shape"], payload["n_pix"], payload["steps"]
    run_img = payload["run_img"]

    def one(i):
        f = flats[i]
        x0 = tref.nhwc_to_nchw(f[:n_pix].reshape(1, *shape))
        z0 = torch.from_numpy(f[n_pix:].reshape(1, -1).copy())
        r = tref.dlg_attack(tmodel, tgrads[run_img[i]], x0, z0, steps=steps)
        return dict(
            index=i,
            seconds=r["seconds"],
            func_evals=r["func_evals"],
            data=r["data"].numpy(),
            label=int(r["label"][0]),
        )

    one(0)  # warm-up
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send([one(i) for i in msg])
    conn.close()


def parallel_dlg(procs: int, threads: int, payload: dict, runs: list, repeats: int) -> dict:
    ctx = mp.get_context("spawn")
    pipes, workers = [], []
    for _ in range(procs):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, payload, threads), daemon=True)
        p.start()
        pipes.append(parent)
        workers.append(p)
    try:
        for c in pipes:
            if c.recv() != "ready":
                raise RuntimeError("torch worker failed to start")
        shares = [runs[k::procs] for k in range(procs)]
        walls, first = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            for c, share in zip(pipes, shares):
                c.send(share)
            results = [r for c in pipes for r in c.recv()]
            walls.append(time.perf_counter() - t0)
            if first is None:
                first = sorted(results, key=lambda r: r["index"])
        return dict(procs=procs, threads=threads, wall_seconds=walls, results=first)
    finally:
        for c in pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                c.send(None)
        for p in workers:
            p.join(timeout=30)
