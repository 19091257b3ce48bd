"""The sweep engine: declare grids of attacks x defenses x seeds, run them as compiled, batched,
sharded programs, store every run in SQLite, resume after a kill, and report.

    from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, seeds
    SWEEP = Sweep("dlg_defenses", runs=product(
        axis("attack", [Attack("dlg", steps=300)]),
        axis("model", [Model("lenet")]),
        axis("data", [Data("photos", victims=16)]),
        axis("defense", Defense.grid("prune", [0.1, 0.5, 0.9])),
        seeds(2)))
    run_sweep(SWEEP, "runs/dlg.sqlite"); df = load("runs/dlg.sqlite")

See :mod:`leakjax.sweep.spec` (declaring), :mod:`~leakjax.sweep.plan` (grouping),
:mod:`~leakjax.sweep.engine` (execution), :mod:`~leakjax.sweep.store` (the SQLite store).
"""

from leakjax.sweep.build import SweepError
from leakjax.sweep.config_file import SweepFileError, load_sweep_file
from leakjax.sweep.engine import SweepInterrupted, SweepResult, run_sweep
from leakjax.sweep.plan import Plan, make_plan
from leakjax.sweep.spec import (
    FIELDS,
    Attack,
    Data,
    Defense,
    Model,
    Sweep,
    Threat,
    Utility,
    axis,
    count_runs,
    product,
    seeds,
    when,
    zip_,
)
from leakjax.sweep.store import SCHEMA_VERSION, Store, StoreError, export_csv, load

__all__ = [
    "FIELDS",
    "SCHEMA_VERSION",
    "Attack",
    "Data",
    "Defense",
    "Model",
    "Plan",
    "Store",
    "StoreError",
    "Sweep",
    "SweepError",
    "SweepFileError",
    "SweepInterrupted",
    "SweepResult",
    "Threat",
    "Utility",
    "axis",
    "count_runs",
    "export_csv",
    "load",
    "load_sweep_file",
    "make_plan",
    "product",
    "run_sweep",
    "seeds",
    "when",
    "zip_",
]
