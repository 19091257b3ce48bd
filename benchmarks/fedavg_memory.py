"""Peak memory of the multi-step (FedAvg-update) attack vs the number of local steps.

The attacker differentiates the cosine distance between the simulated and the observed weight
update with respect to the dummy images, through K unrolled local SGD steps
(``leakjax.fl.local_update``). Measured: XLA's compiled ``memory_analysis()`` of one attack
step's value-and-gradient (``temp_size_in_bytes``: the scratch buffers, deterministic and not
affected by machine load), for K = 1..64, with ``remat=True`` (two-level checkpointed scan,
O(sqrt K) stored carries) and ``remat=False`` (every step's residuals stored).

Setting: Geiping's ConvNet (``--width``, default 16), 32x32x3 inputs, n = 2 images, local
batch size 2 (one full-batch step per epoch, so K = epochs), SGD lr 1e-4 with momentum 0.9.

Usage:
  python benchmarks/fedavg_memory.py           # K = 1, 2, 4, 8, 16, 32, 64
  python benchmarks/fedavg_memory.py --smoke   # width 2, K = 1, 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, save_json  # noqa: E402

from leakjax.attacks import cosine_distance  # noqa: E402
from leakjax.fl import LocalRecipe, local_update  # noqa: E402
from leakjax.models import convnet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--width", type=int, default=16)
    args = ap.parse_args()
    steps_list = [1, 4] if args.smoke else [1, 2, 4, 8, 16, 32, 64]
    width = 2 if args.smoke else args.width
    model = convnet(jax.random.key(0), width=width, num_classes=10)
    n = 2
    x = jax.random.normal(jax.random.key(1), (n, 32, 32, 3))
    y = jnp.arange(n)
    nparams = sum(p.size for p in jax.tree.leaves(model.params))
    rows = []
    for k in steps_list:
        recipe = LocalRecipe(epochs=k, batch_size=n, lr=1e-4, momentum=0.9)
        target = local_update(model, recipe, model.params, x, y)
        row = dict(local_steps=k)
        for remat in (False, True):

            def objective(xd, remat=remat, recipe=recipe, target=target):
                d = local_update(model, recipe, model.params, xd, y, remat=remat)
                return cosine_distance(d, target)

            t0 = time.time()
            compiled = jax.jit(jax.value_and_grad(objective)).lower(x).compile()
            ma = compiled.memory_analysis()
            key = "remat" if remat else "no_remat"
            row[f"{key}_temp_MiB"] = ma.temp_size_in_bytes / 2**20
            row[f"{key}_compile_s"] = time.time() - t0
        rows.append(row)
        print(
            f"K={k:3d}  temp MiB: no remat {row['no_remat_temp_MiB']:9.1f}   remat "
            f"{row['remat_temp_MiB']:9.1f}",
            flush=True,
        )
    out = os.path.join(
        os.path.dirname(__file__),
        "results",
        "fedavg_memory" + ("_smoke" if args.smoke else "") + ".json",
    )
    save_json(
        out,
        dict(
            setting=dict(width=width, n=n, params=int(nparams), params_MiB=nparams * 4 / 2**20),
            machine=machine_info(),
            rows=rows,
        ),
    )
    if not args.smoke:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ks = [r["local_steps"] for r in rows]
        plt.figure(figsize=(4.5, 3.2))
        plt.plot(ks, [r["no_remat_temp_MiB"] for r in rows], "o-", label="no remat")
        plt.plot(ks, [r["remat_temp_MiB"] for r in rows], "s-", label="remat (two-level)")
        plt.xscale("log", base=2)
        plt.yscale("log")
        plt.xlabel("local steps K")
        plt.ylabel("XLA temp memory (MiB)")
        plt.legend()
        plt.tight_layout()
        plt.savefig(out.replace(".json", ".png"), dpi=110)


if __name__ == "__main__":
    main()
