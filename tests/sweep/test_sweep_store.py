"""The SQLite store: schema, atomic chunks, blobs without pickle, clear errors."""

import json
import os
import sqlite3
import stat

import numpy as np
import pytest

from leakjax.sweep import SCHEMA_VERSION, Store, StoreError, export_csv, load


def _row(i, status="converged", **kw):
    row = dict(
        run_id=f"r{i}",
        kind="attack",
        config=json.dumps({"i": i}),
        attack="dlg",
        defense="none",
        status=status,
        mse=0.1 * i,
        psnr=10.0 + i,
        seed=i,
        victim=0,
        metrics={"per_image": {"psnr": [10.0 + i]}},
    )
    row.update(kw)
    return row


def test_create_write_read_and_blobs(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        img = np.random.default_rng(0).uniform(size=(2, 4, 4, 3)).astype(np.float16)
        s.write_chunk(
            "sw", [_row(0), _row(1, "diverged", psnr=float("inf"))], [("r0", "reconstruction", img)]
        )
        assert s.statuses() == {"r0": "converged", "r1": "diverged"}
        np.testing.assert_array_equal(s.blob("r0", "reconstruction"), img)
        assert s.blob("r1", "reconstruction") is None
        # the same run again replaces its row (no duplicates), e.g. --rerun-failed
        s.write_chunk("sw", [_row(1, "converged")])
        assert s.count() == 2
    df = load(path)
    assert list(df.run_id) == ["r0", "r1"] and df.metrics[0]["per_image"]["psnr"] == [10.0]
    out = tmp_path / "runs.csv"
    assert export_csv(path, out) == 2
    assert out.read_text().splitlines()[0].startswith("run_id,kind,config")
    # blobs are plain .npy: no pickle anywhere
    raw = sqlite3.connect(path).execute("SELECT data FROM blobs").fetchone()[0]
    assert raw[:6] == b"\x93NUMPY"


def test_a_failed_transaction_writes_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.write_chunk("sw", [_row(0)])
        bad = _row(1)
        bad["status"] = None  # NOT NULL: the whole chunk is rolled back
        with pytest.raises(sqlite3.IntegrityError):
            s.write_chunk("sw", [_row(2), bad])
        assert set(s.statuses()) == {"r0"}


def test_newer_schema_corrupt_locked_and_readonly(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.write_chunk("sw", [_row(0)])
        s.conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store(path)
    corrupt = tmp_path / "c.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a leakjax SQLite store or is corrupt"):
        Store(corrupt)
    other = tmp_path / "o.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)")
    with pytest.raises(StoreError, match="without leakjax's schema"):
        Store(other)
    # a store locked by another writer
    good = tmp_path / "g.sqlite"
    Store(good).close()
    holder = sqlite3.connect(good, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with (
        pytest.raises(StoreError, match="locked by another process"),
        Store(good, timeout=0.2) as s,
    ):
        s.write_chunk("sw", [_row(5)])
    holder.execute("ROLLBACK")
    holder.close()
    assert Store(good).count() == 0
    # a folder that cannot be created or written (even by root: /proc)
    with pytest.raises(StoreError, match="cannot create the store's folder|not writable"):
        Store("/proc/leakjax-test/s.sqlite")
    with pytest.raises(StoreError, match="not writable"):
        Store("/proc/s.sqlite")
    # a read-only folder
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(StoreError, match="not writable"):
            Store(ro / "s.sqlite")
    finally:
        os.chmod(ro, stat.S_IRWXU)


def test_migration_from_an_older_schema(tmp_path, monkeypatch):
    from leakjax.sweep import store as store_mod

    path = tmp_path / "s.sqlite"
    with Store(path) as s:
        s.write_chunk("sw", [_row(0)])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(store_mod.MIGRATIONS, 2, ["ALTER TABLE runs ADD COLUMN note TEXT"])
    with store_mod.Store(path) as s:
        assert s.schema_version() == 2
        cols = [r[1] for r in s.conn.execute("PRAGMA table_info(runs)")]
        assert "note" in cols
        assert s.statuses() == {"r0": "converged"}  # the finished row survived
