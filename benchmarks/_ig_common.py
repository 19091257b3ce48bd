"""Shared helpers for the IG benchmarks (not part of the library).

``machine_info`` (versions, load, commit), ``pick_photos`` and ``save_json``. The IG benchmarks
drive attacks through the library (``leakjax.attacks.run`` / ``run_batch``). An earlier host-driven
chunked driver, a workaround for slow second-order convolutions inside XLA:CPU loops, was removed
once ``leakjax.models.canonical_conv`` fixed the cause (benchmarks/README.md, "IG step speed").
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np


def matmul_gflops(n=2048, reps=5):
    """Median float32 matmul rate of this machine (GFLOP/s), the yardstick for op efficiency."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    jax.block_until_ready(f(a))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a))
        ts.append(time.perf_counter() - t0)
    return 2.0 * n**3 / float(np.median(ts)) / 1e9


def machine_info() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:  # noqa: BLE001
        commit = None
    return dict(
        jax=jax.__version__,
        backend=jax.default_backend(),
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        loadavg=load,
        commit=commit,
    )


def pick_photos(dataset, n: int):
    """The first image of each of the first ``n`` classes (distinct labels)."""
    labels = np.asarray(dataset.labels)
    idx = [int(np.flatnonzero(labels == c)[0]) for c in range(n)]
    return np.asarray(idx)


def save_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=float)
