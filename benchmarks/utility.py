"""Utility and upload cost of each defense in a FedAvg simulation on the embedded digits (issue 3).

Setting: a ReLU MLP (784-128-10, Flax default init; DLG's sigmoid LeNet with its U(-0.5, 0.5)
init trains too slowly for a CPU budget of minutes), the embedded digits (private split =
training data of the clients, public split = test set), normalized with the dataset's mean/std,
``--clients`` clients with a non-IID Dirichlet(0.5) split, every client in every round,
``--local-steps`` SGD steps (lr ``--lr``, batch 16) per round, ``--rounds`` rounds, ``--seeds``
seeds (each its own model init, client split and minibatches; mean and std reported). Each
defense acts where its default placement says (per local step, or on the shared update's
pseudo-gradient; see ``leakjax.defenses.placement`` and ``leakjax.fl.fedavg``).

Writes benchmarks/results/utility.json and utility.png; prints a table.

Usage:
  python benchmarks/utility.py             # full
  python benchmarks/utility.py --smoke     # 2 rounds, 3 defenses
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from leakjax.data import load_embedded
from leakjax.defenses import parse_defense, spec_wire_format
from leakjax.fl.fedavg import fedavg
from leakjax.models import mlp

SPECS = [
    "none",
    "noise_var=1e-4",
    "noise_var=1e-2",
    "laplace_var=1e-2",
    "quant=fp16",
    "quant=int8",
    "prune=0.2",
    "prune=0.9",
    "topk=0.1",
    "dgp=0.05:0.8",
    "outpost",
    "soteria=60",
    "graddefense",
    "dpsgd=1:1.1",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--local-steps", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--defenses", default=None, help="';'-separated specs")
    ap.add_argument("--seeds", type=int, default=3, help="model init + client split + batches")
    ap.add_argument("--out", default="benchmarks/results/utility.json")
    args = ap.parse_args()
    specs = SPECS
    if args.smoke:
        args.rounds, args.seeds, specs = 2, 1, ["none", "prune=0.5", "dpsgd=1:1.1"]
        args.out = args.out.replace(".json", "_smoke.json")
    if args.defenses:
        specs = args.defenses.split(";")
    train = load_embedded("digits", split="private")
    test = load_embedded("digits", split="public")
    spec = train.spec
    models = [
        mlp(
            jax.random.key(seed),
            input_shape=(28, 28, 1),
            num_classes=10,
            hidden=(128,),
            activation="relu",
        )
        for seed in range(args.seeds)
    ]
    xtr, xte = spec.normalize(train.images), spec.normalize(test.images)
    records = []
    if os.path.exists(args.out) and not args.smoke:
        with open(args.out) as f:
            records = json.load(f).get("records", [])
    done = {r["defense"] for r in records}
    for dspec in specs:
        if dspec in done:
            continue
        t0 = time.time()
        defense = None if dspec == "none" else parse_defense(dspec, 0)[0]
        runs = [
            fedavg(
                jax.random.key(1 + seed),
                models[seed],
                xtr,
                train.labels,
                xte,
                test.labels,
                defense=defense,
                num_clients=args.clients,
                rounds=args.rounds,
                local_steps=args.local_steps,
                lr=args.lr,
                wire=spec_wire_format(dspec),
                split_seed=seed,
            )
            for seed in range(args.seeds)
        ]
        acc = np.stack([np.asarray(r.test_accuracy) for r in runs])  # (seeds, rounds)
        bits = float(np.mean([np.mean(r.upload_bits) for r in runs]))
        rec = dict(
            defense=dspec,
            seeds=args.seeds,
            final_accuracy=float(acc[:, -1].mean()),
            final_accuracy_std=float(acc[:, -1].std()),
            final_accuracy_per_seed=acc[:, -1].tolist(),
            best_accuracy=float(acc.max(axis=1).mean()),
            accuracy=acc.mean(axis=0).tolist(),
            upload_bits_per_round=bits,
            dense_bits_per_round=runs[0].dense_bits,
            compression=float(runs[0].dense_bits / bits),
            seconds=time.time() - t0,
        )
        records.append(rec)
        print(
            f"{dspec:16s} acc {rec['final_accuracy']:.3f} +- {rec['final_accuracy_std']:.3f} "
            f"(best {rec['best_accuracy']:.3f}) "
            f"bits/round {rec['upload_bits_per_round']:.3g} (x{rec['compression']:.1f} less "
            f"than dense) {rec['seconds']:.0f}s",
            flush=True,
        )
        meta = dict(vars(args), jax=jax.__version__, load=os.getloadavg())
        with open(args.out, "w") as f:
            json.dump(dict(meta=meta, records=records), f, indent=1)
    print(
        "\n| defense | test acc after rounds (mean +- std over seeds) | best | upload bits/round "
        "| x less than dense |"
    )
    print("|---|---|---|---|---|")
    for r in records:
        print(
            f"| {r['defense']} | {r['final_accuracy']:.3f} +- {r.get('final_accuracy_std', 0):.3f} "
            f"| {r['best_accuracy']:.3f} | "
            f"{r['upload_bits_per_round']:.3g} | {r['compression']:.1f} |"
        )
    plot(records, args.out.replace(".json", ".png"))


def plot(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(13, 5))
    for r in records:
        ax[0].plot(r["accuracy"], label=r["defense"])
    ax[0].set_xlabel("round")
    ax[0].set_ylabel("test accuracy (digits)")
    ax[0].legend(fontsize=6, ncol=2)
    for r in records:
        ax[1].scatter(r["upload_bits_per_round"], r["final_accuracy"])
        ax[1].annotate(r["defense"], (r["upload_bits_per_round"], r["final_accuracy"]), fontsize=6)
    ax[1].set_xscale("log")
    ax[1].set_xlabel("upload bits per round (all clients)")
    ax[1].set_ylabel("final test accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
