"""Inverting Gradients against multi-step FedAvg updates (reduced grid; issue 4).

Setting: ``--model lenet`` (default; DLG's sigmoid LeNet, the model of Outpost's experiments,
U(-0.5, 0.5) init) or ``--model convnet`` (Geiping's ConvNet, ``--width``, BN eval mode), both
untrained, 11 classes, embedded photos (the first image of each of the first n classes) in their
normalized space, labels known. The client runs local SGD
(``leakjax.fl.LocalRecipe``: E epochs over n samples in mini-batches of B, in order) and shares
the weight delta; the attacker runs IG (signed Adam lr 0.1, multistep decay, TV 1e-4, boxed) on
the cosine distance between the delta of its simulated local training and the observed one.
Scenarios: the single gradient (FedSGD) baseline for n = 1, 4, 8; Geiping's 5 local steps at
lr 1e-4; the Outpost grid E in {1, 5} x n in {1, 4, 8} x B in {1, n} at lr ``--lr`` (the corners
of the E = 1..5, n = 1..8, B = 1..8 space); and the attacker assuming a wrong recipe (E = 1
instead of 5, lr 10x, B = n instead of 1, no momentum instead of 0.9) next to the right one. PSNR per image in [0, 1] space
after Hungarian matching (``leakjax.metrics.match_batch``), averaged over the batch.

Usage:
  python benchmarks/multistep.py                       # LeNet, 300 IG steps, whole grid
  python benchmarks/multistep.py --model convnet --width 8 --steps 100
  python benchmarks/multistep.py --smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, pick_photos, run_chunked, save_json  # noqa: E402

from leakjax.attacks import inverting_gradients  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import LocalRecipe, observe, observe_update  # noqa: E402
from leakjax.metrics import match_batch, psnr  # noqa: E402
from leakjax.models import convnet, lenet  # noqa: E402


# (name, n, client recipe or None for FedSGD, attacker recipe or None = the client's)
def scenarios(lr=1e-2):
    rows = [
        ("fedsgd n=1", 1, None, None),
        ("geiping E=5 n=1 B=1 lr=1e-4", 1, LocalRecipe(epochs=5, batch_size=1, lr=1e-4), None),
    ]
    # Outpost-style grid: E local epochs over n samples in mini-batches of B (K = E * n / B)
    for n in (1, 4, 8):
        if n > 1:
            rows.append((f"fedsgd n={n}", n, None, None))
        for b in sorted({1, n}):
            for e in (1, 5):
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
    ap.add_argument("--only", default=None, help="run only scenarios whose name contains this")
    args = ap.parse_args()
    width, steps = (2, 4) if args.smoke else (args.width, args.steps)
    scen = scenarios(args.lr)
    scen = scen[:2] if args.smoke else scen
    if args.only:
        scen = [s_ for s_ in scen if args.only in s_[0]]
    data = load_embedded("photos")
    spec = data.spec
    if args.model == "lenet":
        model = lenet(jax.random.key(0), input_shape=spec.image_shape, num_classes=spec.num_classes)
    else:
        model = convnet(jax.random.key(0), width=width, num_classes=spec.num_classes)
    idx = pick_photos(data, 8)
    rows = []
    out = os.path.join(
        os.path.dirname(__file__),
        "results",
        f"multistep_{args.model}" + ("_smoke" if args.smoke else "") + ".json",
    )
    for name, n, client, assumed in scen:
        imgs, labs = data.images[idx[:n]], data.labels[idx[:n]]
        if client is None:
            obs = observe(jax.random.key(1), model, imgs, labs, spec=spec, reveal_labels=True)
        else:
            obs = observe_update(
                jax.random.key(1), model, imgs, labs, spec=spec, recipe=client, reveal_labels=True
            )
        att = inverting_gradients(model, spec=spec, max_steps=steps, labels="given", recipe=assumed)
        t0 = time.time()
        x01, _, loss, trace, status = run_chunked(att, jax.random.key(7), obs, steps=steps, chunk=5)
        perm = match_batch(x01, imgs)
        p = float(np.mean(psnr(x01[perm], imgs)))
        row = dict(
            scenario=name,
            n=n,
            local_steps=obs.local_steps,
            psnr_unit=p,
            loss=loss,
            wall_s=time.time() - t0,
            steps=steps,
        )
        rows.append(row)
        print(
            f"{name:32s} K={obs.local_steps:2d}  PSNR {p:6.2f} dB  loss {loss:.4f}  "
            f"{row['wall_s']:.0f}s",
            flush=True,
        )
        save_json(
            out,
            dict(
                setting=dict(model=args.model, width=width, steps=steps, client_lr=args.lr),
                machine=machine_info(),
                rows=rows,
            ),
        )


if __name__ == "__main__":
    main()
