"""The engine: runs land in the store with their metrics; resume, divergence, failures."""

import time

import numpy as np
import pytest

from leakjax.sweep import (
    Attack,
    Data,
    Defense,
    Model,
    Sweep,
    Threat,
    axis,
    load,
    load_sweep_file,
    product,
    run_sweep,
    seeds,
)
from leakjax.sweep.store import Store

MLP = Model("mlp", num_classes=4, hidden=[8])
RANDOM = Data("random", victims=3, image_shape=(4, 4, 1), num_classes=4)


def test_run_store_and_resume(tiny_sweep_file, tmp_path):
    sweep, src = load_sweep_file(str(tiny_sweep_file))
    store = str(tmp_path / "s.sqlite")
    r = run_sweep(sweep, store, progress=False, source=src)
    assert (r.total, r.written, r.already_done, r.failed) == (16, 16, 0, 0)
    df = load(store)
    assert len(df) == 16 and set(df.status) <= {"converged", "max_steps"}
    assert np.all(np.isfinite(df.psnr)) and np.all(df.mse >= 0)
    assert set(df.seed) == {0, 1} and set(df.victim) == {0, 1, 2, 3}
    # the noise really differs per victim and strength: the noisy runs leak less
    clean, noisy = df[df.defense == "noise_std=0.0"], df[df.defense == "noise_std=0.01"]
    assert clean.upload_bits.iloc[0] > 0 and len(clean) == len(noisy) == 8
    with Store(store, readonly=True) as s:
        rec = s.blob(df.run_id[0], "reconstruction")
        assert rec.shape == (1, 4, 4, 1) and rec.dtype == np.float16
        assert s.sweeps()[0]["source"] == src
        env = next(iter(s.environments().values()))
        assert env["backend"] == "cpu" and env["jax"]
    # resuming a finished sweep does nothing, quickly
    t0 = time.perf_counter()
    r2 = run_sweep(sweep, store, progress=False)
    assert (r2.written, r2.already_done) == (0, 16)
    assert time.perf_counter() - t0 < 2.0


def test_one_diverging_run_does_not_touch_its_chunk(tmp_path):
    def sweep(noise):
        return Sweep(
            "d",
            runs=product(
                axis("attack", [Attack("ig", steps=3)]),
                axis("model", [MLP]),
                axis("data", [RANDOM]),
                axis("threat", [Threat(labels="given")]),
                axis("defense", Defense.grid("noise_std", noise)),
                seeds(1),
            ),
        )

    a = str(tmp_path / "a.sqlite")
    b = str(tmp_path / "b.sqlite")
    ra = run_sweep(sweep([0.01, 1e30]), a, progress=False)
    run_sweep(sweep([0.01]), b, progress=False)
    assert ra.diverged == 3
    da, db = load(a), load(b)
    bad = da[da.defense == "noise_std=1e+30"]
    assert set(bad.status) == {"diverged"}
    good = da[da.defense == "noise_std=0.01"].sort_values("victim")
    ref = db.sort_values("victim")
    # same runs, same chunk as the diverging ones: bit-identical to a sweep without them
    np.testing.assert_array_equal(good.psnr.to_numpy(), ref.psnr.to_numpy())
    np.testing.assert_array_equal(good.loss.to_numpy(), ref.loss.to_numpy())


def test_a_broken_group_is_stored_as_failed_and_the_sweep_goes_on(tmp_path):
    s = Sweep(
        "f",
        runs=product(
            axis("attack", [Attack("ig", steps=2)]),
            axis("model", [MLP]),
            axis("data", [RANDOM, Data("digits", victims=2000)]),  # more victims than digits holds
            axis("threat", [Threat(labels="given")]),
        ),
    )
    store = str(tmp_path / "f.sqlite")
    r = run_sweep(s, store, progress=False)
    df = load(store)
    assert r.failed == 2000 and (df.status == "failed").sum() == 2000
    assert (df[df.data == "random"].status != "failed").all()
    err = df[df.status == "failed"].metrics.iloc[0]["error"]
    assert "victims of batch_size=1 need 2000" in err


def test_vmap_strategy_equals_threads(tiny_sweep_file, tmp_path):
    sweep, _ = load_sweep_file(str(tiny_sweep_file))
    a, b = str(tmp_path / "t.sqlite"), str(tmp_path / "v.sqlite")
    run_sweep(sweep, a, strategy="threads", progress=False)
    run_sweep(sweep, b, strategy="vmap", progress=False)
    da, db = load(a).set_index("run_id"), load(b).set_index("run_id")
    assert set(da.index) == set(db.index)  # same identities whatever the backend strategy
    np.testing.assert_allclose(db.loc[da.index].psnr, da.psnr, rtol=1e-4)


def test_bad_strategy():
    with pytest.raises(ValueError, match="strategy='gpu'"):
        run_sweep(Sweep("x"), "/tmp/never.sqlite", strategy="gpu")


def test_attack_at_a_fedavg_round_records_the_models_accuracy(tmp_path):
    trained = Model("mlp", num_classes=10, hidden=[8], state="fedavg", train_steps=2,
                    training={"clients": 2, "lr": 0.5, "momentum": 0.9, "weight_decay": 1e-4})
    s = Sweep("t", runs=product(
        axis("attack", [Attack("ig", steps=2)]),
        axis("model", [Model("mlp", num_classes=10, hidden=[8]), trained]),
        axis("data", [Data("digits", victims=2)]), axis("threat", [Threat(labels="given")])))
    store = str(tmp_path / "t.sqlite")
    run_sweep(s, store, progress=False)
    df = load(store)
    at_round = df[df.config.map(lambda c: c["model"]["state"]) == "fedavg"]
    untrained = df[df.config.map(lambda c: c["model"]["state"]) == "untrained"]
    assert untrained.accuracy.isna().all()
    acc = at_round.accuracy.iloc[0]
    assert 0.0 <= acc <= 1.0
    curve = at_round.metrics.iloc[0]["model_state"]["fedavg_accuracy_curve"]
    assert len(curve) == 3 and curve[-1] == pytest.approx(acc)
    # the trained model is a different model: its observed update and reconstruction differ
    assert not np.allclose(at_round.loss.to_numpy(), untrained.loss.to_numpy())
