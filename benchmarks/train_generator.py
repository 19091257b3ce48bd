"""Train the GGL generator on the *public* split of an embedded dataset; time it; save samples.

Writes ``benchmarks/results/ggl_generator_<dataset>.msgpack`` (flax msgpack + metadata, loadable
with ``leakjax.generative.load_generator``), ``train_generator_<dataset>.json`` (settings, wall
time, loss history, machine) and ``ggl_generator_<dataset>_samples.png`` (a samples grid, one
row per class for a conditional generator, next to real public images).

Full run (the setting recorded in benchmarks/README.md, section "GGL"):
    python benchmarks/train_generator.py
Smoke (seconds):
    python benchmarks/train_generator.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.generative import save_generator
from leakjax.generative.cli_commands import train_public_generator

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def samples_grid(gen, real, path, *, per_class=8, seed=0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = gen.num_classes if gen.conditional else 8
    labels = jnp.repeat(jnp.arange(rows), per_class)
    imgs = np.asarray(gen.sample(jax.random.key(seed), rows * per_class, labels=labels))
    imgs = np.clip(imgs, 0, 1)
    fig, axes = plt.subplots(rows, per_class + 2, figsize=((per_class + 2) * 0.9, rows * 0.9))
    for r in range(rows):
        for c in range(per_class + 2):
            ax = axes[r, c]
            ax.axis("off")
            if c < per_class:
                ax.imshow(imgs[r * per_class + c].squeeze(), cmap="gray", vmin=0, vmax=1)
            elif c == per_class + 1 and r < len(real):
                ax.imshow(real[r].squeeze(), cmap="gray", vmin=0, vmax=1)
    axes[0, per_class + 1].set_title("real", fontsize=7)
    fig.suptitle("generator samples (rows = class); right column: a real public image", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--final-upsample", type=int, default=2)
    ap.add_argument("--loss", default="dcgan", choices=("dcgan", "wgan-gp"))
    ap.add_argument("--unconditional", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps = 20
    os.makedirs(RESULTS, exist_ok=True)
    tag = args.dataset + ("_smoke" if args.smoke else "")
    out = args.out or os.path.join(RESULTS, f"ggl_generator_{tag}.msgpack")

    conditional = not args.unconditional
    t0 = time.perf_counter()
    gen, hist, ds = train_public_generator(
        args.dataset,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        latent_dim=args.latent_dim,
        width=args.width,
        final_upsample=args.final_upsample,
        loss=args.loss,
        conditional=conditional,
    )
    wall = time.perf_counter() - t0
    save_generator(out, gen)
    real = [ds.images[np.flatnonzero(ds.labels == c)[0]] for c in range(ds.spec.num_classes)]
    png = out.replace(".msgpack", "_samples.png")
    samples_grid(gen, real, png)
    record = dict(
        benchmark="train_generator",
        dataset=args.dataset,
        split="public",
        num_images=int(len(ds.images)),
        settings=vars(args) | dict(conditional=conditional),
        wall_time_s=wall,
        train_loop_time_s=hist["wall_time_s"],
        history={k: v for k, v in hist.items() if k != "wall_time_s"},
        checkpoint=os.path.relpath(out, HERE),
        samples_png=os.path.relpath(png, HERE),
        machine=dict(
            platform=platform.platform(),
            cpu_count=os.cpu_count(),
            jax=jax.__version__,
            backend=jax.default_backend(),
            loadavg=os.getloadavg(),
        ),
    )
    path = os.path.join(RESULTS, f"train_generator_{tag}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print(f"dataset={args.dataset} split=public images={len(ds.images)} steps={args.steps}")
    print(f"wall time (incl. compile): {wall:.1f} s; load average {os.getloadavg()}")
    print(f"checkpoint: {out}\nsamples: {png}\nrecord: {path}")


if __name__ == "__main__":
    main()
