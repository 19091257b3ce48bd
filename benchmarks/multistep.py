"""Inverting Gradients against multi-step FedAvg updates (issue 4).

Setting: ``--model lenet`` (default; DLG's sigmoid LeNet, the model of Outpost's experiments,
U(-0.5, 0.5) init) or ``--model convnet`` (Geiping's ConvNet, ``--width``, BN eval mode), both
untrained, 11 classes, embedded photos (the first image of each of the first n classes) in their
normalized space, labels known. The client runs local SGD
(``leakjax.fl.LocalRecipe``: E epochs over n samples in mini-batches of B, in order) and shares
the weight delta; the attacker runs IG (signed Adam lr 0.1, multistep decay, TV 1e-4, boxed) on
the cosine distance between the delta of its simulated local training and the observed one.
Scenarios: the single gradient (FedSGD) baseline for every n; Geiping's 5 local steps at
lr 1e-4; the Outpost grid at lr ``--lr``: ``--grid corners`` is E in {1, 5} x n in {1, 4, 8} x
B in {1, n}, ``--grid full`` is E in {1, 2, 5} x n in {1, 2, 4, 8} x every B in {1, 2, 4, 8}
that divides n; and the attacker assuming a wrong recipe (E = 1 instead of 5, lr 10x, B = n
instead of 1, no momentum instead of 0.9) next to the right one. PSNR per image in [0, 1] space
after Hungarian matching (``leakjax.metrics.match_batch``), averaged over the batch.

Seeds (``--seeds S``) are a batch axis of one compiled program (``leakjax.attacks.run_batch``,
threads on CPU, vmap on accelerators): seed s attacks the (s+1)-th photo of each of the first n
classes with attack key 7 + s, so seeds differ in both the victims and the attack's init.
The output is resumable: finished scenarios are kept when the setting matches.

Usage:
  python benchmarks/multistep.py                       # LeNet, 300 IG steps, corners, 1 seed
  python benchmarks/multistep.py --grid full --seeds 3 --out benchmarks/results/multistep_lenet_full.json
  python benchmarks/multistep.py --model convnet --width 8 --steps 100
  python benchmarks/multistep.py --smoke
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
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, save_json  # noqa: E402

from leakjax.attacks import inverting_gradients, run_batch  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import LocalRecipe, observe, observe_update  # noqa: E402
from leakjax.metrics import match_batch, psnr  # noqa: E402
from leakjax.models import convnet, lenet  # noqa: E402
from leakjax.types import stack_observations  # noqa: E402


# (name, n, client recipe or None for FedSGD, attacker recipe or None = the client's)
def scenarios(lr=1e-2, grid="corners"):
    rows = [
        ("fedsgd n=1", 1, None, None),
        ("geiping E=5 n=1 B=1 lr=1e-4", 1, LocalRecipe(epochs=5, batch_size=1, lr=1e-4), None),
    ]
    # Outpost-style grid: E local epochs over n samples in mini-batches of B (K = E * n / B)
    ns, es = ((1, 4, 8), (1, 5)) if grid == "corners" else ((1, 2, 4, 8), (1, 2, 5))
    for n in ns:
        if n > 1:
            rows.append((f"fedsgd n={n}", n, None, None))
        bs = sorted({1, n}) if grid == "corners" else [b for b in (1, 2, 4, 8) if n % b == 0]
        for b in bs:
            for e in es:
                rows.append(
                    (
                        f"outpost E={e} n={n} B={b}",
                        n,
                        LocalRecipe(epochs=e, batch_size=b, lr=lr),
                        None,
                    )
                )
    rows += [
        (
            "wrong: E=5 n=1 assumed E=1",
            1,
            LocalRecipe(epochs=5, batch_size=1, lr=lr),
            LocalRecipe(epochs=1, batch_size=1, lr=lr),
        ),
        (
            "wrong: E=5 n=1 lr assumed 10x",
            1,
            LocalRecipe(epochs=5, batch_size=1, lr=lr),
            LocalRecipe(epochs=5, batch_size=1, lr=10 * lr),
        ),
        (
            "wrong: E=1 n=4 B=1 assumed B=4",
            4,
            LocalRecipe(epochs=1, batch_size=1, lr=lr),
            LocalRecipe(epochs=1, batch_size=4, lr=lr),
        ),
        (
            "wrong: E=5 n=1 momentum 0.9 assumed 0",
            1,
            LocalRecipe(epochs=5, batch_size=1, lr=lr, momentum=0.9),
            LocalRecipe(epochs=5, batch_size=1, lr=lr),
        ),
        (
            "right: E=5 n=1 momentum 0.9",
            1,
            LocalRecipe(epochs=5, batch_size=1, lr=lr, momentum=0.9),
            None,
        ),
    ]
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument(
        "--model",
        default="lenet",
        choices=("lenet", "convnet"),
        help="lenet: DLG's sigmoid LeNet (Outpost's setting); convnet: Geiping's ConvNet",
    )
    ap.add_argument("--width", type=int, default=8, help="ConvNet width")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-2, help="client lr of the Outpost grid")
    ap.add_argument("--grid", default="corners", choices=("corners", "full"))
    ap.add_argument("--seeds", type=int, default=1, help="victim/attack seeds (a batch axis)")
    ap.add_argument("--only", default=None, help="run only scenarios whose name contains this")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    width, steps = (2, 4) if args.smoke else (args.width, args.steps)
    scen = scenarios(args.lr, args.grid)
    scen = scen[:2] if args.smoke else scen
    if args.only:
        scen = [s_ for s_ in scen if args.only in s_[0]]
    data = load_embedded("photos")
    spec = data.spec
    if args.model == "lenet":
        model = lenet(jax.random.key(0), input_shape=spec.image_shape, num_classes=spec.num_classes)
    else:
        model = convnet(jax.random.key(0), width=width, num_classes=spec.num_classes)
    labels_all = np.asarray(data.labels)
    # seed s: the (s+1)-th photo of each class
    idx_by_seed = [
        np.asarray([int(np.flatnonzero(labels_all == c)[s]) for c in range(8)])
        for s in range(args.seeds)
    ]
    out = args.out or os.path.join(
        os.path.dirname(__file__),
        "results",
        f"multistep_{args.model}" + ("_smoke" if args.smoke else "") + ".json",
    )
    setting = dict(
        model=args.model,
        width=width,
        steps=steps,
        client_lr=args.lr,
        grid=args.grid,
        seeds=args.seeds,
    )
    rows = []
    if os.path.exists(out) and not args.smoke:
        with open(out) as f:
            old = json.load(f)
        if old.get("setting") == setting:
            rows = old["rows"]
    done = {r["scenario"] for r in rows}
    keys = jnp.stack([jax.random.key(7 + s) for s in range(args.seeds)])
    for name, n, client, assumed in tqdm(scen, desc="scenarios", disable=None):
        if name in done:
            continue
        obs_list, truths = [], []
        for s in range(args.seeds):
            imgs, labs = data.images[idx_by_seed[s][:n]], data.labels[idx_by_seed[s][:n]]
            truths.append(imgs)
            if client is None:
                o = observe(jax.random.key(1), model, imgs, labs, spec=spec, reveal_labels=True)
            else:
                o = observe_update(
                    jax.random.key(1),
                    model,
                    imgs,
                    labs,
                    spec=spec,
                    recipe=client,
                    reveal_labels=True,
                )
            obs_list.append(o)
        local_steps = obs_list[0].local_steps
        obs = stack_observations(obs_list)
        att = inverting_gradients(model, spec=spec, max_steps=steps, labels="given", recipe=assumed)
        t0 = time.time()
        res = run_batch(att, keys, obs, steps=steps)
        jax.block_until_ready(res.inputs)
        wall = time.time() - t0
        psnrs, losses = [], []
        for s in range(args.seeds):
            x01 = res.inputs[s]
            perm = match_batch(x01, truths[s])
            psnrs.append(float(np.mean(psnr(x01[perm], truths[s]))))
            losses.append(float(res.loss[s]))
        row = dict(
            scenario=name,
            n=n,
            local_steps=local_steps,
            psnr_unit=float(np.mean(psnrs)),
            psnr_std=float(np.std(psnrs)),
            psnr_per_seed=psnrs,
            loss=float(np.mean(losses)),
            loss_per_seed=losses,
            status=[int(v) for v in np.asarray(res.status)],
            wall_s=wall,
            steps=steps,
        )
        rows.append(row)
        tqdm.write(
            f"{name:32s} K={local_steps:2d}  PSNR {row['psnr_unit']:6.2f} +- "
            f"{row['psnr_std']:.2f} dB  loss {row['loss']:.4f}  {wall:.0f}s"
        )
        save_json(out, dict(setting=setting, machine=machine_info(), rows=rows))
    print_table(rows)


def print_table(rows):
    print(f"{'scenario':40s} {'n':>2s} {'K':>3s} {'PSNR dB':>14s} {'cost':>8s}")
    for r in rows:
        print(
            f"{r['scenario']:40s} {r['n']:2d} {r['local_steps']:3d} "
            f"{r['psnr_unit']:7.2f} +- {r.get('psnr_std', 0.0):4.2f} {r['loss']:8.4f}"
        )


if __name__ == "__main__":
    main()
