"""Issue 13's text figures from the sweep stores: TAG / DLG-text fidelity and token-set P/R.

Reads the stores written by the engine (``leakjax sweep benchmarks/sweeps/text_tag.py`` and
``text_token_set.py``), aggregates the rows' ``metrics["text"]`` per cell and writes one JSON
next to each store (the figures in benchmarks/README.md come from these), plus a Markdown table
on stdout.

    python benchmarks/text_tables.py --tag benchmarks/results/text_tag.sqlite \\
        --token-set benchmarks/results/text_token_set.sqlite

Per cell: the number of runs, their statuses, mean / median / [min, max] of each metric over
runs (a run's value is its mean over its B sequences), the share of runs recovered exactly
(token accuracy 1), the median run time, and two example pairs of truth and recovered text.
"""

from __future__ import annotations

import argparse
import collections
import json
import os

import numpy as np

from leakjax.sweep import load

SEQ_METRICS = ("token_accuracy", "rouge1", "rouge2", "rougeL", "bleu", "token_recall")
SET_METRICS = ("token_precision", "token_recall", "label_precision", "label_recall")


def _stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None], np.float64)
    if not v.size:
        return dict(n=0)
    return dict(
        n=int(v.size),
        mean=float(v.mean()),
        median=float(np.median(v)),
        min=float(v.min()),
        max=float(v.max()),
        std=float(v.std(ddof=1)) if v.size > 1 else 0.0,
    )


def _sources(store: str) -> dict:
    from leakjax.sweep.store import Store

    with Store(store, readonly=True) as s:
        envs = s.environments()
        sweeps = [dict(name=w["name"], description=w["config"].get("description")) for w in s.sweeps()]
    return dict(store=store, sweeps=sweeps, environments=envs)


def tag_table(store: str) -> dict:
    df = load(store)
    df = df[(df.kind == "attack") & (df.attack != "token_set")]
    cells = collections.OrderedDict()
    for _, r in df.sort_values(["attack", "data", "seed", "victim"]).iterrows():
        cells.setdefault((r.attack, r.data), []).append(r)
    out = []
    for (attack, data), rows in cells.items():
        texts = [r.metrics["text"] for r in rows]
        cell = dict(
            attack=attack,
            data=data,
            runs=len(rows),
            seeds=sorted({int(r.seed) for r in rows}),
            victims=len({int(r.victim) for r in rows}),
            status=dict(collections.Counter(r.status for r in rows)),
            steps=int(rows[0].metrics["steps"]),
            exact=float(np.mean([t["token_accuracy"] == 1.0 for t in texts])),
            label_acc=_stats([r.label_acc for r in rows]),
            seconds_median=float(np.median([r.seconds for r in rows])),
            examples=[
                dict(truth=t["truth"][0], recovered=t["recovered"][0]) for t in texts[:2]
            ],
        )
        for k in SEQ_METRICS:
            cell[k] = _stats([t.get(k) for t in texts])
        out.append(cell)
    return dict(kind="text_tag", cells=out, **_sources(store))


def token_set_table(store: str) -> dict:
    df = load(store)
    df = df[(df.kind == "attack") & (df.attack == "token_set")]
    cells = collections.OrderedDict()
    for _, r in df.sort_values(["batch_size", "defense", "seed", "victim"]).iterrows():
        rule = r.config["attack"]["hp"].get("rule", "exact")
        cells.setdefault((rule, int(r.batch_size), r.defense), []).append(r)
    out = []
    for (rule, b, defense), rows in cells.items():
        texts = [r.metrics["text"] for r in rows]
        cell = dict(
            rule=rule,
            batch_size=b,
            defense=defense,
            runs=len(rows),
            status=dict(collections.Counter(r.status for r in rows)),
            exact=float(
                np.mean([t["token_precision"] == 1.0 and t["token_recall"] == 1.0 for t in texts])
            ),
            num_recovered=_stats([t["num_recovered"] for t in texts]),
            num_true=_stats([t["num_true"] for t in texts]),
        )
        for k in SET_METRICS:
            cell[k] = _stats([t.get(k) for t in texts])
        out.append(cell)
    return dict(kind="text_token_set", cells=out, **_sources(store))


def _f(s: dict, k="mean", nd=3) -> str:
    return "-" if not s.get("n") else f"{s[k]:.{nd}f}"


def print_tag(t: dict) -> None:
    print("| attack | data | runs | token acc. mean (median) | exact | ROUGE-1 | ROUGE-2 | "
          "ROUGE-L | BLEU | s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in t["cells"]:
        print(
            f"| {c['attack']} | {c['data']} | {c['runs']} | {_f(c['token_accuracy'])} "
            f"({_f(c['token_accuracy'], 'median')}) | {c['exact']:.2f} | {_f(c['rouge1'])} | "
            f"{_f(c['rouge2'])} | {_f(c['rougeL'])} | {_f(c['bleu'], nd=1)} | "
            f"{c['seconds_median']:.1f} |"
        )


def print_token_set(t: dict) -> None:
    print("| rule | B | defense | runs | precision | recall | exact | recovered / true |")
    print("|---|---|---|---|---|---|---|---|")
    for c in t["cells"]:
        print(
            f"| {c['rule']} | {c['batch_size']} | {c['defense']} | {c['runs']} | "
            f"{_f(c['token_precision'])} | {_f(c['token_recall'])} | {c['exact']:.2f} | "
            f"{_f(c['num_recovered'], nd=1)} / {_f(c['num_true'], nd=1)} |"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", help="store of benchmarks/sweeps/text_tag.py")
    ap.add_argument("--token-set", help="store of benchmarks/sweeps/text_token_set.py")
    args = ap.parse_args(argv)
    for path, table, show in (
        (args.tag, tag_table, print_tag),
        (args.token_set, token_set_table, print_token_set),
    ):
        if not path:
            continue
        t = table(path)
        out = os.path.splitext(path)[0] + ".json"
        with open(out, "w") as f:
            json.dump(t, f, indent=1, default=str)
        print(f"\n{path} -> {out}")
        show(t)


if __name__ == "__main__":
    main()
