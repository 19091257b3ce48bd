"""Reports: image grids, trade-off plots and written summaries (the only place that plots)."""

from leakjax.report.grid import save_grid

__all__ = ["save_grid"]
