"""Reading a results store for a report: rows, sweeps, environments, blobs (read-only).

The report reads only the store (:mod:`leakjax.sweep.store`). :func:`read_store` opens it
read-only (a sweep may be writing it: SQLite's WAL lets readers see the last committed chunk),
parses the JSON columns and keeps the connection open for the few blobs the image grids need.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3

from leakjax.sweep.store import Store, StoreError


@dataclasses.dataclass
class ReportData:
    """What a report shows, as read from a store.

    Attributes:
      path: the store's path.
      sweep: the sweep reported (``None``: every run of the store).
      attack_rows: rows of ``kind != 'utility'`` (JSON columns parsed; ``threat`` too).
      utility_rows: rows of ``kind = 'utility'``.
      sweeps: the ``sweeps`` table's rows (``name``, ``config``, ``source``, ``updated``).
      environments: ``{env_id: environment}`` of the reported rows (all when there are none).
      schema_version: the store's schema version.
      store: the open read-only store (for :meth:`blob`); closed by :meth:`close`.
    """

    path: str
    sweep: str | None
    attack_rows: list[dict]
    utility_rows: list[dict]
    sweeps: list[dict]
    environments: dict[str, dict]
    schema_version: int
    store: Store

    def blob(self, run_id: str, name: str):
        """The array blob ``name`` (``"reconstruction"``, ``"truth"``) of a run, or ``None``."""
        return self.store.blob(run_id, name)

    def close(self) -> None:
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _parse(row: dict) -> dict:
    for k in ("config", "metrics", "victims", "threat"):
        v = row.get(k)
        if isinstance(v, str) and v:
            with contextlib.suppress(json.JSONDecodeError):  # else shown as stored
                row[k] = json.loads(v)
        elif v is None and k in ("config", "metrics", "victims"):
            row[k] = {}
    return row


def read_store(path: str | os.PathLike, *, sweep: str | None = None) -> ReportData:
    """Open ``path`` read-only and read what a report needs.

    Args:
      path: a leakjax store (``.sqlite``).
      sweep: report only this sweep's runs (``None``: every run in the store).

    Raises:
      StoreError: the store does not exist, is not a leakjax store, is corrupt, has a newer
        schema, or has no sweep named ``sweep``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise StoreError(f"store {path!r} is a folder; expected a leakjax .sqlite store file")
    store = Store(path, readonly=True)
    try:
        sweeps = store.sweeps()
        if sweep is not None:
            known = sorted(
                {s["name"] for s in sweeps}
                | {r[0] for r in store.conn.execute("SELECT DISTINCT sweep FROM sweep_runs")}
            )
            if sweep not in known:
                raise StoreError(
                    f"store {path!r} has no sweep named {sweep!r}; its sweeps are {known}"
                )
            sweeps = [s for s in sweeps if s["name"] == sweep]
        rows = [_parse(r) for r in store.rows(sweep)]
        envs = store.environments()
        used = {r.get("env_id") for r in rows}
        if rows:
            envs = {k: v for k, v in envs.items() if k in used}
        return ReportData(
            path=path,
            sweep=sweep,
            attack_rows=[r for r in rows if r.get("kind") != "utility"],
            utility_rows=[r for r in rows if r.get("kind") == "utility"],
            sweeps=sweeps,
            environments=envs,
            schema_version=store.schema_version(),
            store=store,
        )
    except sqlite3.DatabaseError as e:
        store.close()
        raise StoreError(
            f"store {path!r} could not be read ({e}); it is corrupt or not a leakjax store"
        ) from None
    except BaseException:
        store.close()
        raise
