"""Loading a sweep file: a Python file that defines ``SWEEP = leakjax.sweep.Sweep(...)``."""

from __future__ import annotations

import os
import runpy

from leakjax.sweep.spec import Sweep


class SweepFileError(ValueError):
    """A sweep file that cannot be loaded."""


def load_sweep_file(path: str, *, overrides: dict | None = None) -> tuple[Sweep, str]:
    """Run the file at ``path`` and return its ``SWEEP`` and its text.

    ``overrides`` become module globals before it runs (e.g. ``{"TINY": True}``, which the
    project's sweep files read to shrink themselves for tests).
    """
    if not os.path.isfile(path):
        raise SweepFileError(f"sweep file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        ns = runpy.run_path(path, init_globals=dict(overrides or {}), run_name="__sweep__")
    except SyntaxError as e:
        raise SweepFileError(
            f"sweep file {path!r}: syntax error at line {e.lineno}: {e.msg}"
        ) from None
    sweep = ns.get("SWEEP")
    if not isinstance(sweep, Sweep):
        raise SweepFileError(
            f"sweep file {path!r} defines no SWEEP = leakjax.sweep.Sweep(...) "
            f"(found {type(sweep).__name__ if sweep is not None else 'nothing'})"
        )
    return sweep, source
