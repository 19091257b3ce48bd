"""Inverting Gradients against multi-step FedAvg updates (reduced grid; issue 4).

Setting: Geiping's ConvNet (``--width``, default 8, BN eval mode, untrained, 11 classes),
embedded photos in their normalized space, labels known. The client runs local SGD
(``leakjax.fl.LocalRecipe``: E epochs over n samples in mini-batches of B, in order) and shares
the weight delta; the attacker runs IG (signed Adam lr 0.1, multistep decay, TV 1e-4, boxed) on
the cosine distance between the delta of its simulated local training and the observed one.
Scenarios: the single gradient (FedSGD) baseline; Geiping's 5 local steps at lr 1e-4; Outpost-like
(E, n, B) points at lr 1e-2 (a reduced grid of the E = 1..5, n = 1..8, B = 1..8 space); and the
attacker assuming a wrong recipe (E = 1 instead of 5, lr 10x off). PSNR per image in [0, 1] space
after Hungarian matching (``leakjax.metrics.match_batch``), averaged over the batch.

Usage:
  python benchmarks/multistep.py            # reduced grid (see README for the steps used)
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
from leakjax.models import convnet  # noqa: E402

# (name, n, client recipe or None for FedSGD, attacker recipe or None = the client's)
SCENARIOS = [
    ("fedsgd n=1", 1, None, None),
    ("geiping E=5 n=1 lr=1e-4", 1, LocalRecipe(epochs=5, batch_size=1, lr=1e-4), None),
    ("outpost E=1 n=1 B=1 lr=1e-2", 1, LocalRecipe(epochs=1, batch_size=1, lr=1e-2), None),
    ("outpost E=5 n=1 B=1 lr=1e-2", 1, LocalRecipe(epochs=5, batch_size=1, lr=1e-2), None),
    ("outpost E=2 n=2 B=1 lr=1e-2", 2, LocalRecipe(epochs=2, batch_size=1, lr=1e-2), None),
    ("fedsgd n=2", 2, None, None),
    (
        "wrong: E=5 assumed E=1",
        1,
        LocalRecipe(epochs=5, batch_size=1, lr=1e-2),
        LocalRecipe(epochs=1, batch_size=1, lr=1e-2),
    ),
    (
        "wrong: lr=1e-2 assumed 1e-1",
        1,
        LocalRecipe(epochs=5, batch_size=1, lr=1e-2),
        LocalRecipe(epochs=5, batch_size=1, lr=1e-1),
    ),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    width, steps = (2, 4) if args.smoke else (args.width, args.steps)
    scen = SCENARIOS[:2] if args.smoke else SCENARIOS
    data = load_embedded("photos")
    spec = data.spec
    model = convnet(jax.random.key(0), width=width, num_classes=spec.num_classes)
    idx = pick_photos(data, 2)
    rows = []
    out = os.path.join(
        os.path.dirname(__file__),
        "results",
        "multistep" + ("_smoke" if args.smoke else "") + ".json",
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
            out, dict(setting=dict(width=width, steps=steps), machine=machine_info(), rows=rows)
        )


if __name__ == "__main__":
    main()
