"""Reports: image grids, trade-off plots and written summaries (the only place that plots).

``write_report(store, out_dir)`` turns a sweep store into one self-contained HTML page plus
PNG/PDF figures (:mod:`leakjax.report.writer`); the statistics are in
:mod:`leakjax.report.tables` and :mod:`leakjax.report.stats`.
"""

from leakjax.report.grid import save_grid
from leakjax.report.stats import bootstrap_ci, lower_median
from leakjax.report.tables import SUCCESS_DEFINITION, SUCCESS_PSNR_DB, Cell, build_cells
from leakjax.report.writer import ReportError, write_report

__all__ = [
    "SUCCESS_DEFINITION",
    "SUCCESS_PSNR_DB",
    "Cell",
    "ReportError",
    "bootstrap_ci",
    "build_cells",
    "lower_median",
    "save_grid",
    "write_report",
]
