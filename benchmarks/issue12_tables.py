"""The tables of issue 12 (seed papers' claims) from their sweep stores, as Markdown and JSON.

    python benchmarks/issue12_tables.py dlg_defenses      # reads results/dlg_defenses.sqlite
    python benchmarks/issue12_tables.py outpost_table model_state dgp_frontier ggl_faces

For each store it prints the Markdown tables that benchmarks/README.md shows and writes
``results/<name>_summary.json`` with the same numbers (the figures in the README come from it).
Statistics: per cell (attack, defense, model state, scenario), over its valid runs (status
``converged`` or ``max_steps``): mean and std (population) of PSNR on [0, 1], SSIM on [0, 1],
LPIPS (VGG; AlexNet where the images are >= 31 px), the normalized-space MSE (``mse_norm``,
plato/Outpost's space), the median [0, 1] MSE, the fraction of runs with MSE < 1e-3 and < 1e-2
on [0, 1] (DLG's criterion), label accuracy, upload bits, and the model's test accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
VALID = ("converged", "max_steps")


def _f(v, nd=3):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if abs(v) >= 1e4 or (abs(v) < 1e-2 and v != 0):
        return f"{v:.2e}"
    return f"{v:.{nd}g}" if abs(v) >= 100 else f"{v:.{nd}f}".rstrip("0").rstrip(".") or "0"


def _ms(vals, nd=2):
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return "n/a"
    return f"{np.mean(vals):.{nd}f} +- {np.std(vals):.{nd}f}"


def load_rows(name):
    from leakjax.sweep import load

    path = os.path.join(RESULTS, f"{name}.sqlite")
    return load(path, sweep=name)


def attack_label(cfg) -> str:
    a = cfg["attack"]
    if a["name"] == "ggl" and a["hp"].get("defense_simulation"):
        return "ggl-adaptive"
    return a["name"]


def stats(rows) -> dict:
    """Cell statistics over the valid runs of ``rows`` (list of store rows as dicts)."""
    valid = [r for r in rows if r["status"] in VALID]
    out = dict(
        runs=len(rows),
        valid=len(valid),
        diverged=sum(r["status"] == "diverged" for r in rows),
        failed=sum(r["status"] == "failed" for r in rows),
    )
    if not valid:
        return out

    def col(k):
        return [r[k] for r in valid if r[k] is not None and math.isfinite(r[k])]

    def mean_std(k):
        v = col(k)
        return (float(np.mean(v)), float(np.std(v))) if v else (None, None)

    mse = col("mse")
    alex = [(r["metrics"] or {}).get("lpips_alex") for r in valid]
    alex = [a for a in alex if a is not None]
    out.update(
        psnr=mean_std("psnr"),
        ssim=mean_std("ssim"),
        lpips=mean_std("lpips"),
        lpips_alex=(float(np.mean(alex)), float(np.std(alex))) if alex else (None, None),
        mse_norm=mean_std("mse_norm"),
        mse_norm_median=float(np.median(col("mse_norm"))) if col("mse_norm") else None,
        mse_median=float(np.median(mse)) if mse else None,
        success_1e3=float(np.mean([m < 1e-3 for m in mse])) if mse else None,
        success_1e2=float(np.mean([m < 1e-2 for m in mse])) if mse else None,
        label_acc=float(np.mean(col("label_acc"))) if col("label_acc") else None,
        upload_bits=float(np.median(col("upload_bits"))) if col("upload_bits") else None,
        accuracy=mean_std("accuracy"),
        seconds=float(np.median(col("seconds"))) if col("seconds") else None,
    )
    return out


def cells(df, key_fn):
    groups: dict = {}
    for r in df.to_dict("records"):
        if r["kind"] != "attack":
            continue
        groups.setdefault(key_fn(r), []).append(r)
    return {k: stats(v) for k, v in groups.items()}


def utility_stats(df, key_fn=lambda r: r["defense"]):
    groups: dict = {}
    for r in df.to_dict("records"):
        if r["kind"] != "utility":
            continue
        groups.setdefault(key_fn(r), []).append(r)
    out = {}
    for k, rows in groups.items():
        ok = [r for r in rows if r["status"] != "failed"]
        curves = [r["metrics"]["accuracy_curve"] for r in ok]
        secs = [r["metrics"]["round_seconds"] for r in ok]
        # round 1 includes the compilation: the per-round time is the median of rounds 2..
        per_round = [float(np.median(s[1:])) for s in secs if len(s) > 1]
        out[k] = dict(
            runs=len(rows),
            failed=len(rows) - len(ok),
            final=(float(np.mean([c[-1] for c in curves])), float(np.std([c[-1] for c in curves])))
            if curves
            else (None, None),
            best=float(np.mean([max(c) for c in curves])) if curves else None,
            curve_mean=np.mean(np.asarray(curves), axis=0).tolist() if curves else [],
            round_seconds=float(np.mean(per_round)) if per_round else None,
            wall_seconds=float(np.mean([r["seconds"] for r in ok])) if ok else None,
            upload_bits=float(np.mean([r["upload_bits"] for r in ok])) if ok else None,
            errors=[r["metrics"].get("error") for r in rows if r["status"] == "failed"],
        )
    return out


def _key(t):
    return " | ".join(str(x) for x in t)


def dump(name, payload):
    path = os.path.join(RESULTS, f"{name}_summary.json")

    def clean(v):
        if isinstance(v, dict):
            return {(_key(k) if isinstance(k, tuple) else str(k)): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean(payload), f, indent=1)
    print(f"\n(wrote {os.path.relpath(path, os.path.dirname(HERE))})")


def _pm(t, nd=2):
    if t is None or t[0] is None:
        return "n/a"
    return f"{t[0]:.{nd}f} +- {t[1]:.{nd}f}"


# --------------------------------------------------------------------------------------------


def dlg_defenses():
    df = load_rows("dlg_defenses")
    c = cells(df, lambda r: (r["defense"], r["attack"]))
    dense = 2.72e6
    print("| defense | attack | runs | MSE<1e-3 | MSE<1e-2 | median MSE | PSNR (dB) | SSIM | "
          "LPIPS (VGG) | label acc | upload bits (x less) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = list(dict.fromkeys(df["defense"]))
    for d in order:
        for a in ("dlg", "idlg"):
            s = c.get((d, a))
            if not s:
                continue
            print(
                f"| {d} | {a} | {s['valid']}/{s['runs']} | {_f(s.get('success_1e3'), 2)} | "
                f"{_f(s.get('success_1e2'), 2)} | {_f(s.get('mse_median'))} | {_pm(s.get('psnr'), 1)} | "
                f"{_pm(s.get('ssim'))} | {_pm(s.get('lpips'))} | {_f(s.get('label_acc'), 2)} | "
                f"{s['upload_bits']:.3g} ({dense / s['upload_bits']:.1f}) |"
                if s.get("upload_bits")
                else f"| {d} | {a} | {s['valid']}/{s['runs']} | n/a |"
            )
    dump("dlg_defenses", dict(cells=c))


def outpost_table():
    df = load_rows("outpost_table")

    def key(r):
        t = json.loads(r["threat"])["recipe"]
        return (
            r["data"],
            r["defense"],
            t["epochs"],
            r["batch_size"],
            t["batch_size"],
            t["momentum"],
            t["weight_decay"],
            t["schedule"],
            r["config"]["attack"]["steps"],
        )

    c = cells(df, key)
    names = {
        "none": "no defense",
        "prune=0.8": "GC (prune 80%)",
        "laplace=0.1": "DP (Laplace 0.1)",
        "soteria=50": "Soteria (50)",
        "graddefense=0.01:5:10": "GradDefense (10/5, 0.01)",
        "outpost": "Outpost",
    }
    for data in ("digits", "photos"):
        print(f"\n{data}: E = 1, n = 1, B = 1 (2000 IG steps)\n")
        print("| defense | runs | MSE (normalized) mean | median | LPIPS (VGG) | SSIM ([0, 1]) | "
              "PSNR ([0, 1], dB) |")
        print("|---|---|---|---|---|---|---|")
        for spec, nm in names.items():
            s = c.get((data, spec, 1, 1, 1, 0.0, 0.0, "constant", 2000))
            if not s or not s.get("valid"):
                continue
            print(f"| {nm} | {s['valid']}/{s['runs']} | {_f(s['mse_norm'][0])} | "
                  f"{_f(s['mse_norm_median'])} | {_pm(s['lpips'])} | {_pm(s['ssim'])} | "
                  f"{_pm(s['psnr'], 1)} |")
    print("\nproduction-FL grid (1000 IG steps, 4 victims x 1 seed): PSNR on [0, 1] (dB) / "
          "LPIPS, no defense vs Outpost\n")
    print("| data | E | n | B | local steps | momentum | wd, schedule | none: PSNR | none: LPIPS "
          "| none: MSE (norm.) | Outpost: PSNR | Outpost: LPIPS | Outpost: MSE (norm.) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    grid_keys = sorted(
        {k[:1] + k[2:] for k in c if k[-1] == 1000 or k[2:8] == (1, 1, 1, 0.0, 0.0, "constant")},
        key=lambda k: (k[0], k[1] * k[2], k[1], k[2], k[3], k[4]),
    )
    for k in grid_keys:
        data, e, n, b, m, wd, sch, steps = k
        row = []
        for spec in ("none", "outpost"):
            s = c.get((data, spec, e, n, b, m, wd, sch, steps))
            row.append(s)
        if any(s is None or not s.get("valid") for s in row):
            continue
        steps_local = e * math.ceil(n / b)
        cols = []
        for s in row:
            cols += [_pm(s["psnr"], 1), _pm(s["lpips"]), _f(s["mse_norm"][0])]
        print(f"| {data} | {e} | {n} | {b} | {steps_local} | {m} | {wd}, {sch} | "
              + " | ".join(cols) + f" |{'' if steps == 1000 else ' (table run, 2000 steps)'}")
    u = utility_stats(df, lambda r: (r["data"], r["defense"]))
    print("\nutility: FedAvg, 40 rounds, 2 seeds\n")
    print("| data | defense | final test acc (mean +- std) | best round | acc @10 | acc @20 | "
          "s / round (median of rounds 2-40) | run wall s | upload bits / round |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (data, spec), s in sorted(u.items()):
        cm = s["curve_mean"]
        print(f"| {data} | {spec} | {_pm(s['final'], 3)} | {_f(s['best'])} | "
              f"{_f(cm[10] if len(cm) > 10 else None)} | {_f(cm[20] if len(cm) > 20 else None)} | "
              f"{_f(s['round_seconds'])} | {_f(s['wall_seconds'])} | {_f(s['upload_bits'])} |")
    dump("outpost_table", dict(cells=c, utility=u))


def model_state():
    df = load_rows("model_state")

    def key(r):
        m = r["config"]["model"]
        state = {"untrained": "", "pretrained": f"pretrained {m['train_steps']} steps",
                 "fedavg": f"FedAvg round {m['train_steps']}"}[m["state"]]
        init = {"torch": "PyTorch default init", None: "explicit U(-0.5, 0.5) init"}[m["init"]]
        return (init + (", " + state if state else ""), r["attack"])

    c = cells(df, key)
    print("| model state | attack | runs | test acc | MSE<1e-3 | median MSE | PSNR (dB) | SSIM | "
          "LPIPS (VGG) | label acc |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (st, a), s in c.items():
        if not s.get("valid"):
            print(f"| {st} | {a} | 0/{s['runs']} | | | | | | | |")
            continue
        print(f"| {st} | {a} | {s['valid']}/{s['runs']} | {_pm(s['accuracy'], 3)} | "
              f"{_f(s['success_1e3'], 2)} | {_f(s['mse_median'])} | {_pm(s['psnr'], 1)} | "
              f"{_pm(s['ssim'])} | {_pm(s['lpips'])} | {_f(s['label_acc'], 2)} |")
    dump("model_state", dict(cells=c))


def dgp_frontier():
    df = load_rows("dgp_frontier")
    c = cells(df, lambda r: (r["defense"], attack_label(r["config"])))
    u = utility_stats(df)
    dense = None
    for (d, _a), s in c.items():
        if d == "none" and s.get("upload_bits"):
            dense = s["upload_bits"]
    print("| defense | upload bits (x less than none) | FedAvg acc (40 rounds) | IG PSNR | "
          "IG LPIPS | GGL PSNR | GGL LPIPS | adaptive GGL PSNR | adaptive GGL LPIPS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in dict.fromkeys(df[df.kind == "attack"]["defense"]):
        ig, g, ga = (c.get((d, a), {}) for a in ("ig", "ggl", "ggl-adaptive"))
        bits = ig.get("upload_bits")
        ut = u.get(d, {})
        print(f"| {d} | {_f(bits)} ({dense / bits:.1f}) | {_pm(ut.get('final'), 3)} | "
              f"{_pm(ig.get('psnr'), 1)} | {_pm(ig.get('lpips'))} | {_pm(g.get('psnr'), 1)} | "
              f"{_pm(g.get('lpips'))} | {_pm(ga.get('psnr'), 1) if ga else '-'} | "
              f"{_pm(ga.get('lpips')) if ga else '-'} |")
    dump("dgp_frontier", dict(cells=c, utility=u))


def ggl_faces():
    df = load_rows("ggl_faces")
    c = cells(df, lambda r: (r["defense"], attack_label(r["config"])))
    print("| defense | attack | runs | PSNR [0, 1] (dB) | PSNR [-1, 1] (dB, the paper's) | "
          "LPIPS (VGG) | LPIPS (AlexNet) | SSIM | label acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in dict.fromkeys(df["defense"]):
        for a in ("dlg", "ig", "ggl", "ggl-adaptive"):
            s = c.get((d, a))
            if not s or not s.get("valid"):
                continue
            p = s["psnr"]
            pm1 = (p[0] - 20 * math.log10(2), p[1])
            print(f"| {d} | {a} | {s['valid']}/{s['runs']} | {_pm(p, 1)} | {_pm(pm1, 1)} | "
                  f"{_pm(s['lpips'])} | {_pm(s['lpips_alex'])} | {_pm(s['ssim'])} | "
                  f"{_f(s['label_acc'], 2)} |")
    dump("ggl_faces", dict(cells=c))


TABLES = dict(
    dlg_defenses=dlg_defenses,
    outpost_table=outpost_table,
    model_state=model_state,
    dgp_frontier=dgp_frontier,
    ggl_faces=ggl_faces,
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tables", nargs="+", choices=sorted(TABLES))
    args = p.parse_args(argv)
    for t in args.tables:
        print(f"\n## {t}\n")
        TABLES[t]()


if __name__ == "__main__":
    main()
