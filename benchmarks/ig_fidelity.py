"""Inverting Gradients vs DLG on Geiping's untrained ConvNet, 8 embedded photos, B = 1 (issue 4).

Setting: ``leakjax.models.convnet`` (width 32, 11 classes, ``--init torch`` = PyTorch's default
init as the reference's untrained ConvNet, or ``flax``; BatchNorm in eval mode with the initial
running statistics), the embedded "photos" (32x32 RGB, one photo of each
of the first 8 classes) in their normalized space (``load_embedded('photos').spec``), one image
per gradient (B = 1), labels known (IG) or optimized (DLG). IG: signed Adam lr 0.1, multistep
decay at 3/8, 5/8, 7/8 of ``--ig-steps``, TV ``--tv`` (1e-4: the reference CLI), boxed, N(0, 1)
init, ``--restarts`` restarts (the one with the lowest cosine cost is kept). DLG: torch-style L-BFGS (lr 1, 20 evaluations per step), ``--dlg-steps`` steps,
image and label logits from N(0, 1), no box. PSNR/SSIM in [0, 1] space after clipping.

Both attacks run through the library's driver (``leakjax.attacks.run``, jitted: ``lax.scan`` over
steps, ``lax.map`` over restarts on CPU).

Writes benchmarks/results/ig_fidelity.json (resumable: finished (attack, image) pairs are kept)
and ig_fidelity.png.

Usage:
  python benchmarks/ig_fidelity.py             # full: 8 photos, IG 300 steps, DLG 15 steps
  python benchmarks/ig_fidelity.py --smoke     # width 4, 1 photo, a few steps
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _ig_common import machine_info, pick_photos, save_json  # noqa: E402

from leakjax.attacks import dlg, inverting_gradients, run  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl import observe  # noqa: E402
from leakjax.metrics import psnr, ssim  # noqa: E402
from leakjax.models import convnet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--ig-steps", type=int, default=300)
    ap.add_argument("--dlg-steps", type=int, default=15)
    ap.add_argument("--tv", type=float, default=1e-4)
    ap.add_argument("--attacks", default="ig,dlg")
    ap.add_argument("--init", default="torch", choices=("torch", "flax"))
    ap.add_argument("--restarts", type=int, default=1, help="IG restarts")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.width, args.images, args.ig_steps, args.dlg_steps = 4, 1, 10, 2
    out = args.out or os.path.join(
        os.path.dirname(__file__),
        "results",
        "ig_fidelity" + ("_smoke" if args.smoke else "") + ".json",
    )
    data = load_embedded("photos")
    spec = data.spec
    model = convnet(
        jax.random.key(0), width=args.width, num_classes=spec.num_classes, init=args.init
    )
    idx = pick_photos(data, args.images)
    record = dict(setting=vars(args), machine=machine_info(), runs=[])
    if os.path.exists(out) and not args.smoke:
        with open(out) as f:
            old = json.load(f)
        if old.get("setting") == record["setting"]:
            record["runs"] = old["runs"]
    done = {(r["attack"], r["index"]) for r in record["runs"]}
    programs = {}
    attacks = {
        "ig": inverting_gradients(
            model, spec=spec, tv_weight=args.tv, max_steps=args.ig_steps, labels="given"
        ),
        "dlg": dlg(model, spec=spec),
    }
    for attack_name in args.attacks.split(","):
        for i in idx:
            if (attack_name, int(i)) in done:
                continue
            img = data.images[i : i + 1]
            lab = data.labels[i : i + 1]
            obs = observe(jax.random.key(1), model, img, lab, spec=spec, reveal_labels=True)
            if attack_name == "ig":
                steps, restarts = args.ig_steps, args.restarts
            else:
                steps, restarts = args.dlg_steps, 1
                obs = obs.without_labels()
            if attack_name not in programs:
                programs[attack_name] = jax.jit(
                    functools.partial(run, attacks[attack_name], steps=steps, restarts=restarts)
                )
            t0 = time.time()
            res = programs[attack_name](jax.random.key(100 + int(i)), obs)
            jax.block_until_ready(res.inputs)
            wall = time.time() - t0
            x01, labels, loss = res.inputs, res.labels, float(res.loss)
            status, trace = int(res.status), np.asarray(res.loss_trace).reshape(-1)
            p = float(psnr(x01, img)[0])
            s = float(ssim(x01, img)[0])
            r = dict(
                attack=attack_name,
                index=int(i),
                label=int(lab[0]),
                psnr_unit=p,
                ssim_unit=s,
                loss=loss,
                label_ok=bool(int(labels[0]) == int(lab[0])),
                steps=steps,
                restarts=restarts,
                restart_kept=int(res.restart),
                wall_s=wall,
                status=int(status),
                trace=[float(v) for v in trace[:: max(1, len(trace) // 50)]],
            )
            record["runs"].append(r)
            print(
                f"{attack_name:4s} photo {int(i):3d}: PSNR {p:6.2f} dB  SSIM {s:.3f}  loss "
                f"{loss:.4g}  {wall:.0f}s",
                flush=True,
            )
            record["machine"] = machine_info()
            save_json(out, record)
            if not args.smoke:
                np.save(out.replace(".json", f"_{attack_name}_{int(i)}.npy"), np.asarray(x01))
    summary = {}
    for a in args.attacks.split(","):
        ps = [r["psnr_unit"] for r in record["runs"] if r["attack"] == a]
        if ps:
            summary[a] = dict(
                median_psnr=float(np.median(ps)), mean_psnr=float(np.mean(ps)), n=len(ps)
            )
            print(f"{a}: median PSNR {np.median(ps):.2f} dB over {len(ps)} photos")
    record["summary"] = summary
    save_json(out, record)
    if not args.smoke:
        plot(record, data, out.replace(".json", ".png"))


def plot(record, data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = sorted({r["attack"] for r in record["runs"]})
    idx = sorted({r["index"] for r in record["runs"]})
    fig, axes = plt.subplots(
        1 + len(attacks),
        len(idx),
        figsize=(1.3 * len(idx), 1.5 * (1 + len(attacks))),
        squeeze=False,
    )
    for j, i in enumerate(idx):
        axes[0, j].imshow(np.asarray(data.images[i]))
        axes[0, j].set_title("truth", fontsize=7)
        for a_i, a in enumerate(attacks):
            f = path.replace(".png", f"_{a}_{i}.npy")
            ax = axes[1 + a_i, j]
            if os.path.exists(f):
                ax.imshow(np.load(f)[0])
                p = [r["psnr_unit"] for r in record["runs"] if r["attack"] == a and r["index"] == i]
                ax.set_title(f"{a} {p[0]:.1f} dB", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
