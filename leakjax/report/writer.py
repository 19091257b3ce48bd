"""``write_report``: a sweep store -> one self-contained HTML page plus figures for papers.

Output layout (``out_dir``)::

    index.html                 the page (images embedded as data URIs; no external reference)
    cells.csv                  one row per cell: medians, interval ends, counts, bits, epsilon
    figures/tradeoff_bits.png|pdf, tradeoff_accuracy.*, tradeoff_epsilon.*
    figures/cell_NNN_<scenario>_<defense>.png|pdf   ground truth, best / median / worst

The report reads only the store (``leakjax.sweep.Store`` opened read-only); see
:mod:`leakjax.report.tables` for the statistics and their definitions.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import os

import numpy as np

from leakjax.report import plots
from leakjax.report.page import render_page
from leakjax.report.read import read_store
from leakjax.report.tables import build_cells, cells_csv_rows, failures


class ReportError(RuntimeError):
    """The report cannot be written (e.g. ``out_dir`` is not a writable folder)."""


def _prepare(out_dir: str) -> str:
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ReportError(f"write_report: out_dir={out_dir!r} is a file; expected a folder")
    figs = os.path.join(out_dir, "figures")
    try:
        os.makedirs(figs, exist_ok=True)
        probe = os.path.join(out_dir, ".leakjax-report-probe")
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as e:
        raise ReportError(
            f"write_report: out_dir={out_dir!r} is not a writable folder ({e}); choose another "
            "--out"
        ) from None
    for name in os.listdir(figs):  # figures of an earlier report of other cells
        if name.startswith(("cell_", "tradeoff_")) and name.endswith((".png", ".pdf")):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(figs, name))
    return figs


def _grid_picks(data, cell):
    picks, missing = {}, []
    for name, row in cell.picks().items():
        truth = data.blob(row["run_id"], "truth")
        recon = data.blob(row["run_id"], "reconstruction")
        if truth is None or recon is None or truth.ndim != 4 or recon.shape != truth.shape:
            missing.append(name)
            continue
        perm = (row.get("metrics") or {}).get("perm")
        recon = plots.matched(np.asarray(recon, np.float32), perm)
        picks[name] = (row, np.asarray(truth, np.float32), recon)
    return picks, missing


def write_report(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sweep: str | None = None,
    pdf: bool = True,
    grids: bool = True,
) -> str:
    """Write the report of a store and return the path of its ``index.html``.

    Args:
      store_path: a leakjax sweep store (SQLite).
      out_dir: the output folder (created; existing report files in it are replaced).
      sweep: report only this sweep's runs (default: every run in the store).
      pdf: also write every figure as PDF (PNG always).
      grids: draw the per-cell image grids (off: the page has tables and trade-offs only).

    Raises:
      leakjax.sweep.StoreError: the store does not exist, is not a leakjax store, is corrupt,
        has a newer schema, or has no sweep named ``sweep``.
      ReportError: ``out_dir`` is a file or not writable.
    """
    import leakjax

    with read_store(store_path, sweep=sweep) as data:
        figs = _prepare(os.fspath(out_dir))
        cells = build_cells(data.attack_rows, data.utility_rows)
        fails = failures(data.attack_rows, data.utility_rows)
        tradeoffs = {}
        for axis in plots.TRADEOFF_AXES:
            fig, drawn = plots.tradeoff_figure(cells, axis)
            _, png = plots.save_figure(
                fig, os.path.join(figs, f"tradeoff_{axis}"), pdf=pdf, dpi=120
            )
            tradeoffs[axis] = (png, drawn)
        grid_png, notes = {}, {}
        for c in cells:
            if not grids:
                continue
            if not c.picks():
                notes[c.index] = (
                    "No image grid: no valid run of this cell has a PSNR "
                    f"({', '.join(f'{n} {s}' for s, n in c.counts.items() if n)})."
                )
                continue
            picks, missing = _grid_picks(data, c)
            if not picks:
                notes[c.index] = "No image grid: the store holds no image blobs for these runs."
                continue
            fig = plots.cell_grid_figure(c, picks)
            base = plots.figure_base(figs, f"cell_{c.index:03d}_{c.scenario}_{c.defense_label}")
            _, grid_png[c.index] = plots.save_figure(fig, base, pdf=pdf, dpi=110)
            if missing:
                notes[c.index] = f"Missing blobs for the {', '.join(missing)} run(s)."
        rows = cells_csv_rows(cells)
        with open(os.path.join(os.fspath(out_dir), "cells.csv"), "w", newline="") as f:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        page = render_page(
            data=data,
            cells=cells,
            failures=fails,
            tradeoffs=tradeoffs,
            grids=grid_png,
            grid_notes=notes,
            generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            version=leakjax.__version__,
        )
        index = os.path.join(os.fspath(out_dir), "index.html")
        with open(index, "w", encoding="utf-8") as f:
            f.write(page)
    return index
