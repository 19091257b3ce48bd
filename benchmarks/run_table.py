"""Run one benchmark sweep config into a store and record how it ran (issue 12's tables).

    flock -x /tmp/leakjax-cpu.lock python benchmarks/run_table.py benchmarks/sweeps/dlg_defenses.py \
        --store benchmarks/results/dlg_defenses.sqlite

Writes ``<store>.run.json`` next to the store: the config, the wall time of this invocation,
the runs written / already stored / failed / diverged, the load averages before and after, the
CPU count and whether the caller said it held the exclusive CPU lock (``--exclusive``; the
project's rule for any figure in a README). A resumed run appends a new entry, so the total
wall time is the sum of the entries. ``--tiny`` loads the config with ``TINY = True`` (smoke).
``--strip-truth`` drops the ground-truth blobs after the run (they are re-derivable from the
embedded data; only reconstructions are kept) and vacuums the file, to keep committed stores
small (the report, written first when ``--report`` is given, still has its image grids).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--store", required=True)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--exclusive", action="store_true", help="ran under flock -x (quiet machine)")
    p.add_argument("--report", default=None, help="also write the report to this folder")
    p.add_argument("--strip-truth", action="store_true")
    args = p.parse_args(argv)

    from leakjax.sweep import load_sweep_file, run_sweep

    sweep, source = load_sweep_file(args.config, overrides={"TINY": True} if args.tiny else None)
    load0 = os.getloadavg()
    t0 = time.time()
    res = run_sweep(sweep, args.store, source=source, log=print)
    wall = time.time() - t0
    entry = dict(
        config=args.config,
        sweep=sweep.name,
        tiny=args.tiny,
        store=args.store,
        started=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0)),
        wall_seconds=round(wall, 1),
        total=res.total,
        already_done=res.already_done,
        written=res.written,
        failed=res.failed,
        diverged=res.diverged,
        groups=res.groups,
        loadavg_before=[round(x, 2) for x in load0],
        loadavg_after=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
        exclusive_lock=args.exclusive,
    )
    if args.report:
        from leakjax.report import write_report

        t1 = time.time()
        write_report(args.store, args.report)
        entry["report_seconds"] = round(time.time() - t1, 1)
        entry["report"] = args.report
    if args.strip_truth:
        con = sqlite3.connect(args.store)
        con.execute("DELETE FROM blobs WHERE name = 'truth'")
        con.commit()
        con.execute("VACUUM")
        con.close()
    log_path = os.path.splitext(args.store)[0] + ".run.json"
    runs = []
    if os.path.exists(log_path):
        with open(log_path, encoding="utf-8") as f:
            runs = json.load(f)
    runs.append(entry)
    with open(log_path, "w", encoding="utf-8") as f:
        json.dump(runs, f, indent=1)
    print(json.dumps(entry, indent=1))


if __name__ == "__main__":
    main()
