"""iDLG and DLG fidelity on the embedded datasets (issue 2's acceptance figures).

For each dataset (photos, faces: 32x32x3 sigmoid LeNet with 100 classes; digits: the 28x28x1
LeNet with 10 classes, as iDLG's MNIST setting), N images x S seeds, 300 torch-style L-BFGS
steps each (the references' budget), B = 1, raw [0, 1] pixels. A seed draws a fresh
U(-0.5, 0.5) network (as iDLG's experiments do) and a fresh dummy start. Success = MSE < 1e-3
in [0, 1] space. Label accuracy = exact match.

Writes benchmarks/results/idlg_dlg_fidelity.json after every (dataset, attack) so a killed run
keeps what finished; rerunning skips finished entries.

    python benchmarks/idlg_dlg_fidelity.py                 # full: 16 images x 2 seeds
    python benchmarks/idlg_dlg_fidelity.py --smoke         # 2 images x 1 seed, 10 steps
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from leakjax.cli import run_attack_experiment

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {"photos": 100, "faces": 100, "digits": 10}
PAPER = {  # iDLG README (card 2): label accuracy DLG vs iDLG
    "digits": {"dlg": 0.899, "idlg": 1.0, "paper_dataset": "MNIST"},
    "photos": {"dlg": 0.833, "idlg": 1.0, "paper_dataset": "CIFAR-100"},
    "faces": {"dlg": 0.791, "idlg": 1.0, "paper_dataset": "LFW"},
}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--datasets", default="photos,faces,digits")
    p.add_argument("--attacks", default="idlg,dlg")
    p.add_argument("--strategy", default="auto")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results", "idlg_dlg_fidelity.json"))
    a = p.parse_args(argv)
    if a.smoke:
        a.images, a.seeds, a.steps = 2, 1, 10
        a.out = a.out.replace(".json", "_smoke.json")
    done = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            done = json.load(f)
    done.setdefault("entries", {})
    import jax

    done["machine"] = dict(
        processor=platform.processor() or platform.machine(),
        cores=os.cpu_count(),
        jax=jax.__version__,
        python=platform.python_version(),
        backend=jax.default_backend(),
    )
    done["command"] = "python benchmarks/idlg_dlg_fidelity.py " + " ".join(argv or [])
    for ds in a.datasets.split(","):
        for attack in a.attacks.split(","):
            key = f"{ds}/{attack}"
            if key in done["entries"]:
                continue
            args = argparse.Namespace(
                attack=attack,
                model="lenet",
                data=[ds],
                split="all",
                labels=None,
                num_images=a.images,
                num_classes=SETTINGS[ds],
                seeds=a.seeds,
                steps=a.steps,
                restarts=1,
                defense="",
                labels_known=False,
                strategy=a.strategy,
                chunk=64,
                out="",
                model_seed=0,
                quiet=True,
            )
            t0 = time.perf_counter()
            records, _ = run_attack_experiment(args)
            wall = time.perf_counter() - t0
            mse = np.array([r["mse"] for r in records])
            entry = dict(
                dataset=ds,
                attack=attack,
                runs=len(records),
                steps=a.steps,
                num_classes=SETTINGS[ds],
                success_rate=float(np.mean(mse < 1e-3)),
                label_accuracy=float(np.mean([r["label_correct"] for r in records])),
                median_mse=float(np.median(mse)),
                median_psnr=float(np.median([r["psnr"] for r in records])),
                mean_ssim=float(np.mean([r["ssim"] for r in records])),
                statuses={
                    s: sum(r["status"] == s for r in records)
                    for s in ("converged", "max_steps", "diverged")
                },
                paper_label_accuracy=PAPER[ds][attack],
                paper_dataset=PAPER[ds]["paper_dataset"],
                wall_seconds=wall,
                load_average=os.getloadavg(),
                records=records,
            )
            done["entries"][key] = entry
            os.makedirs(os.path.dirname(a.out), exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(done, f, indent=1)
            print(
                f"{key:14s} success {entry['success_rate']:.0%}  labels "
                f"{entry['label_accuracy']:.0%} (paper {PAPER[ds][attack]:.1%} on "
                f"{PAPER[ds]['paper_dataset']})  median MSE {entry['median_mse']:.2e}  "
                f"{wall:.0f}s",
                flush=True,
            )
    print(f"\n{'setting':14s} {'runs':>4s} {'MSE<1e-3':>9s} {'label acc':>9s} {'paper':>7s}")
    for key, e in done["entries"].items():
        print(
            f"{key:14s} {e['runs']:4d} {e['success_rate']:9.0%} {e['label_accuracy']:9.0%} "
            f"{e['paper_label_accuracy']:7.1%}"
        )


if __name__ == "__main__":
    main()
