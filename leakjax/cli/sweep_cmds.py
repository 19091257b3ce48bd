"""``leakjax sweep``, ``leakjax export`` and ``leakjax report``: sweep files and their stores."""

from __future__ import annotations

import argparse
import os
import sys

from leakjax.cli.common import CLIError, check_store_exists, check_store_path, positive_int


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    from leakjax.sweep.engine import STRATEGIES

    p.add_argument(
        "config", metavar="CONFIG",
        help="sweep file: a Python file that defines SWEEP = leakjax.sweep.Sweep(...)",
    )  # fmt: skip
    p.add_argument(
        "--store", default=None,
        help="SQLite store to write (finished runs in it are not redone; default: "
        "runs/<sweep name>.sqlite)",
    )  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true",
        help="print the plan (runs, compiled groups, chunks, memory per run, runs already "
        "stored) and run nothing",
    )  # fmt: skip
    p.add_argument(
        "--no-compile", action="store_true",
        help="with --dry-run: skip compiling each group (no memory or chunk estimates)",
    )  # fmt: skip
    p.add_argument(
        "--rerun-failed", action="store_true", help="run the stored diverged and failed runs again"
    )
    p.add_argument(
        "--strategy", default="auto", choices=STRATEGIES,
        help="batching of runs: threads (auto on CPU) or vmap (auto on GPU/TPU)",
    )  # fmt: skip
    p.add_argument(
        "--max-chunk", type=positive_int("--max-chunk"), default=256,
        help="at most this many runs per committed chunk (also bounded by memory)",
    )  # fmt: skip
    p.add_argument(
        "--tiny", action="store_true",
        help="set TINY = True in the file first (the project's sweep files shrink to test size)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")


def _load(args):
    from leakjax.sweep import SweepFileError, load_sweep_file

    try:
        return load_sweep_file(args.config, overrides={"TINY": True} if args.tiny else None)
    except SweepFileError as e:
        raise CLIError(f"CONFIG {args.config}: {e}") from None
    except (ValueError, TypeError) as e:  # a bad declaration found while the file runs
        raise CLIError(f"CONFIG {args.config}: {e}") from None


def _statuses(store: str) -> dict:
    from leakjax.sweep import Store, StoreError

    if not os.path.exists(store):
        return {}
    try:
        with Store(store, readonly=True) as s:
            return s.statuses()
    except StoreError as e:
        raise CLIError(f"--store {store}: {e}") from None


def cmd_sweep(args) -> int:
    from leakjax.sweep import SweepError, make_plan

    sweep, source = _load(args)
    store = args.store or os.path.join("runs", f"{sweep.name}.sqlite")
    if args.dry_run:
        try:
            plan = make_plan(sweep, _statuses(store), rerun_failed=args.rerun_failed)
        except (SweepError, ValueError, TypeError) as e:
            raise CLIError(str(e)) from None
        estimates, errors = {}, {}
        if not args.no_compile and plan.groups:
            from leakjax.sweep.engine import estimate_plan

            print(f"compiling {len(plan.groups)} group(s) for estimates...", file=sys.stderr)
            for key, est in estimate_plan(
                plan, strategy=args.strategy, max_chunk=args.max_chunk
            ).items():
                (errors if "error" in est else estimates)[key] = est
        print(f"store: {store}")
        print(plan.describe(estimates))
        for key, est in errors.items():
            print(f"  [{key}] cannot be built: {est['error']}")
        return 0
    check_store_path(store)
    from leakjax.cli.attack import run_into_store
    from leakjax.cli.table import summary_table

    ids = run_into_store(
        sweep,
        store,
        strategy=args.strategy,
        max_chunk=args.max_chunk,
        quiet=args.quiet,
        rerun_failed=args.rerun_failed,
        source=source,
        on_group_error="store",
    )
    if args.quiet:
        return 0
    from leakjax.cli.attack import read_runs

    rows = [r for r in read_runs(store, ids) if r["kind"] == "attack"]
    if rows:
        print(summary_table(rows))
    utility = len(ids) - len(rows)
    print(
        f"sweep {sweep.name!r}: {len(ids)} runs ({utility} utility) in {store}; "
        f"`leakjax report {store} --out DIR` writes the report"
    )
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", metavar="STORE", help="a store written by leakjax (.sqlite)")
    p.add_argument(
        "--csv", nargs="?", const="-", default=None, metavar="OUT", required=True,
        help="write the runs (no arrays) as CSV to OUT, or to stdout without OUT",
    )  # fmt: skip
    p.add_argument("--sweep", default=None, help="only this sweep's runs (default: all)")


def cmd_export(args) -> int:
    from leakjax.sweep import StoreError, export_csv

    check_store_exists(args.store)
    try:
        if args.csv == "-":
            n = export_csv(args.store, sys.stdout, sweep=args.sweep)
        else:
            folder = os.path.dirname(os.path.abspath(args.csv))
            if not os.path.isdir(folder):
                raise CLIError(f"--csv {args.csv}: the folder {folder} does not exist")
            n = export_csv(args.store, args.csv, sweep=args.sweep)
    except StoreError as e:
        raise CLIError(str(e)) from None
    except OSError as e:
        raise CLIError(f"--csv {args.csv}: {e.strerror or e}") from None
    if args.csv != "-":
        print(f"wrote {n} runs to {args.csv}", file=sys.stderr)
    return 0


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", metavar="STORE", help="a store written by leakjax (.sqlite)")
    p.add_argument(
        "--out", required=True, help="folder for the HTML page and its PNG/PDF figures"
    )
    p.add_argument("--sweep", default=None, help="only this sweep's runs (default: all)")


def cmd_report(args) -> int:
    from leakjax.cli.common import check_out_dir
    from leakjax.report import ReportError, write_report
    from leakjax.sweep import StoreError

    check_store_exists(args.store)
    check_out_dir(args.out)
    try:
        path = write_report(args.store, args.out, sweep=args.sweep)
    except (StoreError, ReportError) as e:
        raise CLIError(str(e)) from None
    print(f"wrote {path}")
    return 0
