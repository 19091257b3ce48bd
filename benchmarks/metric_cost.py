"""What the sweep engine's per-run metrics cost, by metric, on 32x32x3 images (B = 1).

    python benchmarks/metric_cost.py --out benchmarks/results/metric_cost.json

Times, warm, over ``--repeats`` (median and range), for one chunk of ``--chunk`` runs: MSE / PSNR
/ SSIM with Hungarian matching (``build.image_metrics``), LPIPS-VGG16 and LPIPS-AlexNet
(``leakjax.metrics.lpips`` on the chunk's reconstructions and truths). Random images: the cost
does not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/metric_cost.json")
    a = ap.parse_args(argv)
    from leakjax.data import load_embedded
    from leakjax.metrics import lpips
    from leakjax.sweep import build

    spec = load_embedded("photos").spec
    rng = np.random.default_rng(0)
    recon = rng.uniform(size=(a.chunk, 1, 32, 32, 3)).astype(np.float32)
    truth = rng.uniform(size=(a.chunk, 1, 32, 32, 3)).astype(np.float32)
    r2, t2 = jnp.asarray(recon[:, 0]), jnp.asarray(truth[:, 0])
    parts = {
        "mse_psnr_ssim_matching": lambda: build.image_metrics(recon, truth, spec, pad_to=a.chunk),
        "lpips_vgg": lambda: np.asarray(lpips(r2, t2, net="vgg")),
        "lpips_alex": lambda: np.asarray(lpips(r2, t2, net="alex")),
    }
    out = {}
    for name, fn in parts.items():
        fn()  # compile
        ts = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = dict(
            per_run_ms=1e3 * float(np.median(ts)) / a.chunk,
            chunk_seconds=dict(median=float(np.median(ts)), min=min(ts), max=max(ts)),
        )
        print(name, f"{out[name]['per_run_ms']:.2f} ms per run", flush=True)
    result = dict(
        chunk=a.chunk,
        repeats=a.repeats,
        image_shape=[32, 32, 3],
        parts=out,
        machine=dict(cores=os.cpu_count(), jax=jax.__version__, backend=jax.default_backend(),
                     load=os.getloadavg()),
        command="python benchmarks/metric_cost.py " + " ".join(argv or sys.argv[1:]),
    )
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
