"""Markdown tables for benchmarks/README.md, read from a sweep store (never from a loop).

    python benchmarks/store_table.py STORE --by data,attack [--where "defense = 'none'"]
        [--success "mse < 1e-3"] [--paper paper.json]

One row per group: runs, status counts (converged / max steps / diverged / failed), success rate
(the ``--success`` rule on finished runs), label accuracy, lower median MSE and PSNR (a value some
run reached), mean SSIM and LPIPS (VGG; "n/c" when not computed), mean upload bits and wall
seconds per run; diverged and failed runs are counted apart and left out of every statistic.
``--victims`` lists the victims of each group (dataset indices, labels, sources).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys

import numpy as np


def lower_median(values):
    v = np.sort(np.asarray([x for x in values if x is not None and np.isfinite(x)], float))
    return float(v[(len(v) - 1) // 2]) if len(v) else float("nan")


def rows(store: str, where: str = "") -> list[dict]:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    q = "SELECT * FROM runs WHERE kind = 'attack'" + (f" AND ({where})" if where else "")
    out = [dict(r) for r in con.execute(q + " ORDER BY created, run_id")]
    for r in out:
        r["config"] = json.loads(r["config"])
        r["metrics"] = json.loads(r["metrics"] or "{}")
        r["victims"] = json.loads(r["victims"] or "{}")
    return out


def _key(r, by):
    out = []
    for b in by:
        if b in r:
            out.append(r[b])
        elif b == "steps":
            out.append(r["metrics"].get("steps"))
        elif b == "model_label":
            m = r["config"]["model"]
            out.append(m["name"] + ("" if m.get("state", "untrained") == "untrained"
                                    else f":{m['state']}{m.get('train_steps', 0)}"))
        elif b == "epochs":
            rec = r["config"]["threat"].get("recipe")
            out.append(rec["epochs"] if rec else 0)
        else:
            raise SystemExit(f"--by {b!r}: not a run column")
    return tuple(out)


def success(r, rule: str) -> bool:
    env = {k: (v if v is not None else float("nan")) for k, v in r.items()
           if isinstance(v, int | float) or v is None}
    return bool(eval(rule, {"__builtins__": {}}, env))  # noqa: S307 - our own fixed rules


def table(store, by, where="", rule="mse < 1e-3", victims=False) -> str:
    groups: dict = {}
    for r in rows(store, where):
        groups.setdefault(_key(r, by), []).append(r)
    head = [*by, "runs", "conv/max/div/fail", "success", "label acc", "median MSE",
            "median PSNR", "mean SSIM", "mean LPIPS", "bits", "s/run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for k, rs in groups.items():
        counts = {s: sum(r["status"] == s for r in rs)
                  for s in ("converged", "max_steps", "diverged", "failed")}
        ok = [r for r in rs if r["status"] in ("converged", "max_steps")]
        lp = [r["lpips"] for r in ok if r["lpips"] is not None]
        succ = np.mean([success(r, rule) for r in ok]) if ok else float("nan")
        lines.append("| " + " | ".join([
            *[str(x) for x in k], str(len(rs)),
            "/".join(str(counts[s]) for s in ("converged", "max_steps", "diverged", "failed")),
            f"{succ:.0%}", f"{np.mean([r['label_acc'] for r in ok]):.0%}" if ok else "-",
            f"{lower_median([r['mse'] for r in ok]):.2e}",
            f"{lower_median([r['psnr'] for r in ok]):.1f}",
            f"{np.mean([r['ssim'] for r in ok]):.3f}" if ok else "-",
            f"{np.mean(lp):.3f}" if lp else "n/c",
            f"{np.mean([r['upload_bits'] for r in ok]):.3g}" if ok else "-",
            f"{np.mean([r['seconds'] or 0 for r in ok]):.1f}" if ok else "-",
        ]) + " |")
        if victims:
            seen = []
            for r in rs:
                v = r["victims"]
                tag = ",".join(
                    f"#{i} {n}" + (f" ({s.split('/')[-1].split('[')[0]})" if s else "")
                    for i, n, s in zip(v.get("indices", []), v.get("names", v.get("labels", [])),
                                       v.get("sources") or [""] * len(v.get("indices", [])))
                )
                if tag not in seen:
                    seen.append(tag)
            notes.append(f"- {' / '.join(map(str, k))}: victims {'; '.join(seen)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--by", default="attack,defense")
    ap.add_argument("--where", default="")
    ap.add_argument("--success", default="mse < 1e-3")
    ap.add_argument("--victims", action="store_true")
    a = ap.parse_args(argv)
    print(table(a.store, a.by.split(","), a.where, a.success, a.victims))
    print(f"\n(success = `{a.success}` on finished runs; medians are lower medians; diverged and "
          "failed runs are counted apart and left out of every statistic)", file=sys.stderr)


if __name__ == "__main__":
    main()
