"""The results store: one SQLite file (WAL), a schema version and migrations.

Tables (schema version :data:`SCHEMA_VERSION`):

* ``meta(key, value)``: ``schema_version``, ``created``.
* ``environments(env_id, json)``: leakjax version, git commit, jax/jaxlib versions, backend,
  device kind, Python and platform (:func:`leakjax.sweep.environment`).
* ``sweeps(name, config, source, updated)``: each sweep's declaration (its file's text) as last
  run.
* ``runs``: one row per run, keyed by ``run_id`` (the content hash of its configuration and the
  leakjax version, :mod:`leakjax.sweep.identity`). Columns: the configuration (``config``
  JSON, and ``kind``, ``attack``, ``model``, ``data``, ``defense``, ``defense_kind``,
  ``placement``, ``threat``, ``seed``, ``victim``, ``batch_size`` for queries); ``status``
  (``converged``, ``max_steps``, ``diverged``; ``failed`` for a run whose program raised);
  ``loss`` (the final matching loss); metrics in named spaces (``mse``, ``psnr``, ``ssim`` on
  [0, 1] images; ``mse_norm``, ``psnr_norm`` in the model's normalized space; ``lpips``: LPIPS
  v0.1 with the VGG16 backbone (plato/Outpost's choice; AlexNet's value is in ``metrics`` as
  ``lpips_alex``), NULL when not computed, with the reason in ``metrics.lpips_notes``;
  ``label_acc``); ``upload_bits``; ``epsilon``/``delta`` (DP-SGD);
  ``accuracy`` (utility runs: final FedAvg test accuracy; attack runs on a trained model
  state: that model's test accuracy when attacked); ``seconds`` (the run's own time); ``metrics`` (JSON: every
  metric, including text metrics and curves); ``victims`` (JSON: dataset indices, labels,
  sources); ``env_id``; ``chunk`` and ``created``.
* ``sweep_runs(sweep, run_id)``: which runs belong to which sweep.
* ``blobs(run_id, name, data)``: arrays as ``.npy`` bytes (``np.save(allow_pickle=False)``):
  ``reconstruction`` and ``truth`` (float16 NHWC in [0, 1]) for image runs.

Writes: :meth:`Store.write_chunk` commits one chunk's rows, memberships and blobs in one
transaction, so a killed sweep loses at most the chunks that were running. Only the process
that owns the store writes (process 0 of a multi-process sweep). Opening checks the file:
a corrupt file, a locked store, a store of a newer schema and a read-only folder each raise a
:class:`StoreError` naming the path and what to do.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

SCHEMA_VERSION = 1

_SCHEMA_V1 = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)""",
    """CREATE TABLE IF NOT EXISTS environments (env_id TEXT PRIMARY KEY, json TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sweeps (
        name TEXT PRIMARY KEY, config TEXT, source TEXT, updated REAL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        attack TEXT, model TEXT, data TEXT, defense TEXT, defense_kind TEXT, placement TEXT,
        threat TEXT, seed INTEGER, victim INTEGER, batch_size INTEGER,
        status TEXT NOT NULL,
        loss REAL,
        mse REAL, psnr REAL, ssim REAL, mse_norm REAL, psnr_norm REAL, lpips REAL,
        label_acc REAL,
        upload_bits REAL, epsilon REAL, delta REAL, accuracy REAL,
        seconds REAL,
        metrics TEXT, victims TEXT,
        env_id TEXT, chunk TEXT, created REAL)""",
    """CREATE TABLE IF NOT EXISTS sweep_runs (
        sweep TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (sweep, run_id))""",
    """CREATE TABLE IF NOT EXISTS blobs (
        run_id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (run_id, name))""",
    """CREATE INDEX IF NOT EXISTS runs_cell ON runs (attack, defense, status)""",
]

MIGRATIONS: dict[int, list[str]] = {
    # version -> SQL that brings a store of version-1 up to it (none yet beyond v1)
}

RUN_COLUMNS = (
    "run_id", "kind", "config", "attack", "model", "data", "defense", "defense_kind",
    "placement", "threat", "seed", "victim", "batch_size", "status", "loss", "mse", "psnr",
    "ssim", "mse_norm", "psnr_norm", "lpips", "label_acc", "upload_bits", "epsilon", "delta",
    "accuracy", "seconds", "metrics", "victims", "env_id", "chunk", "created",
)  # fmt: skip


class StoreError(RuntimeError):
    """A store that cannot be used, with the reason and what to do."""


def encode_array(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def decode_array(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


class Store:
    """An open results store (see the module docstring). Use as a context manager."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False, timeout: float = 10.0):
        self.path = os.fspath(path)
        self.readonly = readonly
        folder = os.path.dirname(os.path.abspath(self.path)) or "."
        if readonly:
            if not os.path.exists(self.path):
                raise StoreError(f"store {self.path!r} does not exist")
        else:
            if os.path.isdir(self.path):
                raise StoreError(f"store {self.path!r} is a folder; expected a .sqlite file path")
            if not os.path.isdir(folder):
                try:
                    os.makedirs(folder, exist_ok=True)
                except OSError as e:
                    raise StoreError(f"cannot create the store's folder {folder!r}: {e}") from None
            if not _writable(folder) or (
                os.path.exists(self.path) and not os.access(self.path, os.W_OK)
            ):
                raise StoreError(
                    f"store {self.path!r}: the folder or file is not writable; choose another "
                    "--store / --out path (finished rows stay in the existing file)"
                )
        uri = f"file:{os.path.abspath(self.path)}" + ("?mode=ro" if readonly else "")
        try:
            self.conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self._check_schema()
        except sqlite3.DatabaseError as e:
            msg = str(e)
            if "locked" in msg or "busy" in msg:
                raise StoreError(
                    f"store {self.path!r} is locked by another process (another sweep writing "
                    "it?); wait for it to finish or use another --store"
                ) from None
            raise StoreError(
                f"store {self.path!r} is not a leakjax SQLite store or is corrupt ({msg}); "
                "move it aside and run again (a new store is created)"
            ) from None

    # ------------------------------------------------------------------ schema
    def _check_schema(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            if tables:
                raise StoreError(
                    f"store {self.path!r} is an SQLite file without leakjax's schema "
                    f"(tables {sorted(tables)}); choose another --store path"
                )
            if self.readonly:
                raise StoreError(f"store {self.path!r} is empty")
            self._create()
            return
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path!r} has schema version {version}, newer than this leakjax "
                f"(schema {SCHEMA_VERSION}); upgrade leakjax to read it"
            )
        if version < SCHEMA_VERSION:
            if self.readonly:
                raise StoreError(
                    f"store {self.path!r} has schema version {version}; open it once for "
                    f"writing to migrate it to {SCHEMA_VERSION}"
                )
            self._migrate(version)

    def _create(self) -> None:
        with self.transaction():
            for sql in _SCHEMA_V1:
                self.conn.execute(sql)
            for v in range(2, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[v]:
                    self.conn.execute(sql)
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('created', ?)", (str(time.time()),)
            )

    def _migrate(self, version: int) -> None:
        with self.transaction():
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[v]:
                    self.conn.execute(sql)
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ writes
    def transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                try:
                    store.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as e:
                    if "locked" in str(e) or "busy" in str(e):
                        raise StoreError(
                            f"store {store.path!r} is locked by another process (another sweep "
                            "writing it?); wait for it to finish or use another --store"
                        ) from None
                    raise
                return store.conn

            def __exit__(self, exc_type, exc, tb):
                store.conn.execute("ROLLBACK" if exc_type else "COMMIT")
                return False

        return _Tx()

    def put_environment(self, env_id: str, env: dict) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO environments VALUES (?, ?)", (env_id, json.dumps(env))
            )

    def put_sweep(self, name: str, config: dict, source: str | None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?)",
                (name, json.dumps(config, default=str), source, time.time()),
            )

    def write_chunk(
        self,
        sweep: str,
        rows: Sequence[dict],
        blobs: Iterable[tuple[str, str, Any]] = (),
    ) -> None:
        """Insert (or replace) ``rows`` and their ``blobs`` ``(run_id, name, array)`` and the
        sweep memberships, in **one** transaction."""
        cols = ",".join(RUN_COLUMNS)
        marks = ",".join("?" * len(RUN_COLUMNS))
        values = []
        for r in rows:
            r = dict(r)
            for k in ("metrics", "victims"):
                if k in r and not isinstance(r[k], str | type(None)):
                    r[k] = json.dumps(r[k], default=_json_default)
            r.setdefault("created", time.time())
            values.append(tuple(_sql(r.get(c)) for c in RUN_COLUMNS))
        blob_rows = [(rid, name, encode_array(a)) for rid, name, a in blobs]
        with self.transaction() as c:
            c.executemany(f"INSERT OR REPLACE INTO runs ({cols}) VALUES ({marks})", values)
            c.executemany(
                "INSERT OR IGNORE INTO sweep_runs VALUES (?, ?)", [(sweep, v[0]) for v in values]
            )
            c.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)", blob_rows)

    def add_members(self, sweep: str, run_ids: Iterable[str]) -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO sweep_runs VALUES (?, ?)", [(sweep, r) for r in run_ids]
            )

    # ------------------------------------------------------------------ reads
    def statuses(self, run_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``{run_id: status}`` of the stored runs (all, or those of ``run_ids``)."""
        if run_ids is None:
            return dict(self.conn.execute("SELECT run_id, status FROM runs"))
        ids = list(run_ids)
        out = {}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            q = f"SELECT run_id, status FROM runs WHERE run_id IN ({','.join('?' * len(part))})"
            out.update(dict(self.conn.execute(q, part)))
        return out

    def rows(self, sweep: str | None = None, where: str = "", params: Sequence = ()) -> list[dict]:
        q = "SELECT runs.* FROM runs"
        args: list = []
        if sweep is not None:
            q += " JOIN sweep_runs USING (run_id) WHERE sweep_runs.sweep = ?"
            args.append(sweep)
            if where:
                q += " AND (" + where + ")"
        elif where:
            q += " WHERE " + where
        cur = self.conn.execute(q + " ORDER BY runs.created, runs.run_id", [*args, *params])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    def blob(self, run_id: str, name: str) -> np.ndarray | None:
        row = self.conn.execute(
            "SELECT data FROM blobs WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        return None if row is None else decode_array(row[0])

    def sweeps(self) -> list[dict]:
        cur = self.conn.execute("SELECT name, config, source, updated FROM sweeps ORDER BY name")
        return [
            dict(name=n, config=json.loads(c or "{}"), source=s, updated=u) for n, c, s, u in cur
        ]

    def environments(self) -> dict[str, dict]:
        return {
            k: json.loads(v) for k, v in self.conn.execute("SELECT env_id, json FROM environments")
        }

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _writable(folder: str) -> bool:
    """Whether a file can really be created in ``folder`` (``os.access`` is not enough for root
    or read-only file systems)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".leakjax-probe-"):
            return True
    except OSError:
        return False


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _sql(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None  # NULL: not computed / undefined (inf is stored as SQLite's Inf)
    return v


def load(path: str | os.PathLike, *, sweep: str | None = None, kind: str | None = None):
    """The runs of a store as a pandas DataFrame (one row per run; ``config``, ``metrics`` and
    ``victims`` parsed from JSON into Python objects)."""
    import pandas as pd

    with Store(path, readonly=True) as s:
        rows = s.rows(sweep, "kind = ?" if kind else "", (kind,) if kind else ())
    for r in rows:
        for k in ("config", "metrics", "victims"):
            r[k] = json.loads(r[k]) if r.get(k) else None
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS) if not rows else None)


def export_csv(path: str | os.PathLike, out, *, sweep: str | None = None) -> int:
    """Write the runs (without blobs) as CSV to ``out`` (a path or file object); returns rows."""
    df = load(path, sweep=sweep)
    df.to_csv(out, index=False)
    return len(df)
