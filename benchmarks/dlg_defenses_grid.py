"""Reconstruction grid of the issue-12 DLG table from its store (results/dlg_defenses.sqlite).

    python benchmarks/dlg_defenses_grid.py --out benchmarks/results/dlg_defenses_grid.png

One row per (attack, defense) cell, one column per victim (the 8 photographs) for one network
seed, and the victims themselves on top. The store keeps only the reconstructions (its ground
truth was stripped to keep it small), so the truth row is read again from the embedded photos'
private split. Each victim's label is checked against the store's ``victims`` column, so the
wrong image cannot be drawn. Each panel is captioned with its PSNR on [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from leakjax import data  # noqa: E402
from leakjax.sweep.store import decode_array  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CELLS = [
    ("idlg", "none"),
    ("dlg", "none"),
    ("idlg", "noise_var=0.0001"),
    ("idlg", "noise_var=0.001"),
    ("idlg", "prune=0.1"),
    ("idlg", "prune=0.2"),
    ("idlg", "prune=0.3"),
    ("idlg", "quant=int8"),
    ("dlg", "quant=int8"),
    ("idlg", "graddefense"),
    ("idlg", "outpost"),
    ("idlg", "soteria=60"),
]


def _victims(v):
    return v if isinstance(v, dict) else json.loads(v)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=os.path.join(HERE, "results", "dlg_defenses.sqlite"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "results", "dlg_defenses_grid.png"))
    args = p.parse_args(argv)

    con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)  # the store holds one sweep
    rows = con.execute(
        "SELECT run_id, attack, defense, seed, victim, psnr, victims FROM runs "
        "WHERE kind = 'attack' AND seed = ?",
        (args.seed,),
    ).fetchall()
    ds = data.load("photos", split="private")
    by_cell = {}
    for rid, attack, defense, _seed, victim, psnr, victims in rows:
        by_cell.setdefault((attack, defense), {})[int(victim)] = (rid, psnr, _victims(victims))
    n = max(len(v) for v in by_cell.values())
    fig, ax = plt.subplots(len(CELLS) + 1, n, figsize=(1.1 * n + 1.6, 1.15 * (len(CELLS) + 1)))
    for j in range(n):
        ax[0][j].imshow(np.clip(ds.images[j], 0, 1))
        vic = by_cell[CELLS[0]][j][2]
        if int(vic["labels"][0]) != int(ds.labels[j]):
            raise SystemExit(f"victim {j}: store label {vic['labels']} != data label {ds.labels[j]}")
        ax[0][j].set_title(vic["names"][0][:12], fontsize=6)
    ax[0][0].set_ylabel("victim", fontsize=7)
    for i, cell in enumerate(CELLS, start=1):
        for j in range(n):
            rid, psnr, _ = by_cell[cell][j]
            (blob,) = con.execute(
                "SELECT data FROM blobs WHERE run_id = ? AND name = 'reconstruction'", (rid,)
            ).fetchone()
            img = decode_array(blob).reshape(ds.images.shape[1:])
            ax[i][j].imshow(np.clip(img, 0, 1))
            ax[i][j].set_title(f"{psnr:.1f} dB", fontsize=6, pad=1)
        ax[i][0].set_ylabel(f"{cell[0]}\n{cell[1]}", fontsize=6)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"DLG / iDLG against defenses, 300 L-BFGS steps, network seed {args.seed} "
                 "(PSNR on [0, 1])", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
