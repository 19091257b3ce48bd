"""Batch label inference: accuracy of each rule for B = 1, 4, 8, 16, distinct and repeated labels.

Setting: untrained models (``--init``: ``torch``, the zoo's default, or ``flax``) with 100 classes: Geiping's ConvNet (width 16, BN
eval mode) and a CIFAR ResNet-20 (width 1, BN eval mode); inputs are embedded photos (random
draws, normalized with the photos' statistics; labels are assigned at random: the rules only see
the gradient, so the images' true classes do not matter). "distinct": B different labels out of
100; "repeated": labels drawn i.i.d. from 3 classes (so duplicates are certain for B >= 4).
Accuracy = order-free multiset overlap / B (``leakjax.metrics.label_accuracy``), averaged over
``--trials`` batches. iDLG is defined for B = 1 only.

Usage:
  python benchmarks/labels.py --init flax   # results/labels.json (the first table)
  python benchmarks/labels.py --init torch --out benchmarks/results/labels_torch_init.json
  python benchmarks/labels.py --smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, save_json  # noqa: E402

from leakjax.attacks import LABEL_RULES  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import client_gradient  # noqa: E402
from leakjax.metrics import label_accuracy  # noqa: E402
from leakjax.models import convnet, resnet20  # noqa: E402

RULES = ["idlg", "bias_sign", "yin", "llg", "bias_corrected"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--init", default="torch", choices=("torch", "flax"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    batch_sizes = [1, 4] if args.smoke else [1, 4, 8, 16]
    trials = 2 if args.smoke else args.trials
    data = load_embedded("photos")
    spec = data.spec
    nc = 100
    models_ = {
        "convnet16": convnet(
            jax.random.key(0), width=4 if args.smoke else 16, num_classes=nc, init=args.init
        ),
    }
    if not args.smoke:
        models_["resnet20"] = resnet20(jax.random.key(0), width=1, num_classes=nc, init=args.init)
    rng = np.random.default_rng(0)
    rows = []
    t0 = time.time()
    for mname, model in models_.items():
        grad = jax.jit(client_gradient(model))
        for b in batch_sizes:
            for mode in ("distinct", "repeated"):
                accs = {r: [] for r in RULES}
                for _ in range(trials):
                    idx = rng.choice(len(data.images), size=b, replace=False)
                    if mode == "distinct":
                        labels = rng.choice(nc, size=b, replace=False)
                    else:
                        labels = rng.choice(rng.choice(nc, size=3, replace=False), size=b)
                    x = spec.normalize(jnp.asarray(data.images[idx]))
                    g = grad(model.params, x, jnp.asarray(labels))
                    for r in RULES:
                        if r == "idlg" and b != 1:
                            continue
                        pred = LABEL_RULES[r](model, g, batch_size=b)
                        accs[r].append(float(label_accuracy(pred, jnp.asarray(labels))))
                row = dict(
                    model=mname,
                    batch_size=b,
                    labels=mode,
                    **{r: (float(np.mean(v)) if v else None) for r, v in accs.items()},
                )
                rows.append(row)
                print(
                    f"{mname:9s} B={b:2d} {mode:8s} "
                    + "  ".join(
                        f"{r}={row[r]:.3f}" if row[r] is not None else f"{r}=  -  " for r in RULES
                    ),
                    flush=True,
                )
    out = args.out or os.path.join(
        os.path.dirname(__file__), "results", "labels" + ("_smoke" if args.smoke else "") + ".json"
    )
    save_json(
        out,
        dict(
            setting=dict(trials=trials, num_classes=nc, rules=RULES, init=args.init),
            machine=machine_info(),
            wall_s=time.time() - t0,
            rows=rows,
        ),
    )


if __name__ == "__main__":
    main()
