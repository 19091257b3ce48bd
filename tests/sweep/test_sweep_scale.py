"""Scale: SIGKILL and resume, 4 forced host devices, a 2-process jax.distributed run."""

import os
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import write_sweep

from leakjax.sweep import load
from leakjax.sweep.store import Store

WORKER = os.path.join(os.path.dirname(__file__), "sweep_worker.py")


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "jax_cache")
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    env.update(extra)
    return env


def _run(args, env, timeout=240):
    p = subprocess.run(
        [sys.executable, WORKER, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def _metrics(store):
    df = load(store).set_index("run_id").sort_index()
    return df[["status", "loss", "mse", "psnr", "ssim", "upload_bits"]]


def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    """Interrupt with SIGKILL, resume, repeat: no finished run lost or duplicated, and the final
    store equals an uninterrupted run (small size; the 256-run version is in benchmarks/)."""
    sweep = write_sweep(tmp_path / "k.py", steps=300, victims=12, noise=(0.0, 0.01), seeds=2)
    env = _env(tmp_path)
    ref = str(tmp_path / "ref.sqlite")
    _run([str(sweep), ref, "--max-chunk", "2"], env)  # also fills the compilation cache
    store = str(tmp_path / "k.sqlite")
    rng = random.Random(0)
    seen: set = set()
    kills = 0

    def count():
        if not os.path.exists(store):
            return 0
        try:
            with Store(store, readonly=True) as s:
                return s.count()
        except Exception:  # noqa: BLE001 - being created right now
            return 0

    for _ in range(4):
        target = rng.randint(min(count() + 1, 46), 46)
        p = subprocess.Popen(
            [sys.executable, WORKER, str(sweep), store, "--max-chunk", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while p.poll() is None and count() < target:
            time.sleep(0.005)
        if p.poll() is None:
            time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the next chunk
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        with Store(store, readonly=True) as s:
            ids = set(s.statuses())
            chunks = s.conn.execute("SELECT chunk, COUNT(*) FROM runs GROUP BY chunk").fetchall()
        assert seen <= ids, "a finished run was lost"
        seen = ids
        assert all(n == 2 for _, n in chunks), f"a chunk was half-written: {chunks}"
    out = _run([str(sweep), store, "--max-chunk", "2"], env)
    assert "total=48" in out
    assert kills >= 3, kills
    a, b = _metrics(ref), _metrics(store)
    assert len(b) == 48 and b.index.is_unique
    assert list(a.index) == list(b.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_four_forced_host_devices_equal_one(tmp_path):
    sweep = write_sweep(tmp_path / "d.py", steps=3, victims=3, noise=(0.0, 0.01), seeds=1)
    one, four = str(tmp_path / "one.sqlite"), str(tmp_path / "four.sqlite")
    flags = os.environ.get("XLA_FLAGS", "")
    _run([str(sweep), one, "--strategy", "vmap"], _env(tmp_path))
    _run(
        [str(sweep), four, "--strategy", "vmap"],
        _env(tmp_path, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count=4"),
    )
    with Store(four, readonly=True) as s:
        env = next(iter(s.environments().values()))
    assert env["device_count"] == 4
    a, b = _metrics(one), _metrics(four)
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(
        b[["loss", "psnr", "mse"]].to_numpy(dtype=float),
        a[["loss", "psnr", "mse"]].to_numpy(dtype=float),
        rtol=1e-5,
    )
    assert list(a.status) == list(b.status)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_distributed_run_gives_the_same_store(tmp_path):
    sweep = write_sweep(tmp_path / "p.py", steps=3, victims=6, noise=(0.0, 0.01), seeds=1)
    single, multi = str(tmp_path / "single.sqlite"), str(tmp_path / "multi.sqlite")
    env = _env(tmp_path)
    _run([str(sweep), single, "--max-chunk", "2"], env)
    addr = f"127.0.0.1:{_free_port()}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                WORKER,
                str(sweep),
                multi,
                "--max-chunk",
                "2",
                "--process-id",
                str(i),
                "--num-processes",
                "2",
                "--coordinator",
                addr,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "written=12" in outs[0][0]  # process 0 wrote every run, its own and the other's
    a, b = _metrics(single), _metrics(multi)
    assert list(a.index) == list(b.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    with Store(multi, readonly=True) as s:
        chunks = {r[0] for r in s.conn.execute("SELECT DISTINCT chunk FROM runs")}
    assert len(chunks) == 6


@pytest.fixture(autouse=True)
def _no_stray_processes():
    yield
