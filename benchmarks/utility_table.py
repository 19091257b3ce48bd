"""The FedAvg utility table (benchmarks/README.md) from the utility sweep's store.

    python benchmarks/utility_table.py benchmarks/results/utility.sqlite \
        --out benchmarks/results/utility_summary.json

Per defense, over its seeds: the test accuracy after the last round (mean +- population std, and
per seed), the mean over the last 5 rounds (steadier than one round: FedAvg with one local step
at lr 0.3 on a non-IID split oscillates from round to round), the best round, and the upload
bits per round (10 clients summed) with the factor below dense float32. Only the store is read.
"""

from __future__ import annotations

import argparse
import json
import sqlite3

import numpy as np

LAST = 5


def utility_rows(store: str) -> list[dict]:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    q = "SELECT defense, seed, status, accuracy, upload_bits, metrics FROM runs WHERE kind = ?"
    out = []
    for r in con.execute(q + " ORDER BY created, run_id", ("utility",)):
        r = dict(r)
        r["metrics"] = json.loads(r["metrics"] or "{}")
        out.append(r)
    return out


def summarize(rows: list[dict]) -> list[dict]:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["defense"], []).append(r)
    table = []
    for defense, rs in by.items():
        ok = [r for r in rs if r["status"] not in ("failed", "diverged")]
        curves = [np.asarray(r["metrics"]["accuracy_curve"], float) for r in ok]
        final = [float(c[-1]) for c in curves]
        last = [float(c[-LAST:].mean()) for c in curves]
        dense = [r["metrics"].get("dense_bits_per_round") for r in ok]
        bits = [float(r["upload_bits"]) for r in ok]
        table.append(
            dict(
                defense=defense,
                seeds=[int(r["seed"]) for r in ok],
                not_finished=len(rs) - len(ok),
                final_mean=float(np.mean(final)),
                final_std=float(np.std(final)),
                final_per_seed=final,
                last5_mean=float(np.mean(last)),
                last5_std=float(np.std(last)),
                best_mean=float(np.mean([c.max() for c in curves])),
                upload_bits=float(np.mean(bits)),
                dense_bits=float(dense[0]) if dense and dense[0] else None,
            )
        )
    return table


def markdown(table: list[dict]) -> str:
    lines = [
        "| defense | final round (mean +- std) | per seed | last 5 rounds (mean +- std) | "
        "best round (mean) | upload bits/round | x less than dense |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in table:
        factor = t["dense_bits"] / t["upload_bits"] if t["dense_bits"] else float("nan")
        seeds = ", ".join(f"{v:.3f}" for v in t["final_per_seed"])
        lines.append(
            f"| {t['defense']} | {t['final_mean']:.3f} +- {t['final_std']:.3f} | {seeds} | "
            f"{t['last5_mean']:.3f} +- {t['last5_std']:.3f} | {t['best_mean']:.3f} | "
            f"{t['upload_bits']:.3g} | {factor:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--out", default=None, help="write the summary JSON here")
    a = ap.parse_args(argv)
    table = summarize(utility_rows(a.store))
    print(markdown(table))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(store=a.store, last_rounds=LAST, table=table), f, indent=1)


if __name__ == "__main__":
    main()
