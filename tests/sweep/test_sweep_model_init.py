"""Model states for the seed-paper tables: PyTorch init for the LeNet/MLP, the pretrain recipe,
and GradDefense's server compensation in utility runs (issue 12)."""

import math

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from leakjax.sweep import Attack, Data, Defense, Model, SweepError, Utility
from leakjax.sweep.build import build_model, validate_cell
from leakjax.sweep.spec import Threat


def _cfg(**kw):
    base = dict(name="lenet", seed=0, init=None, kwargs={}, state="untrained", train_steps=0)
    return {**base, **kw}


def _layers(params):
    flat = flatten_dict(params)
    return {p[:-1] for p in flat if p[-1] == "kernel"}, flat


def test_torch_init_redraws_the_lenet_within_pytorch_bounds():
    explicit, _ = build_model(_cfg(), (8, 8, 1), 4)
    torch, _ = build_model(_cfg(init="torch"), (8, 8, 1), 4)
    layers, flat = _layers(torch.params)
    _, flat_explicit = _layers(explicit.params)
    assert layers
    for layer in layers:
        kernel = np.asarray(flat[layer + ("kernel",)])
        bound = 1.0 / math.sqrt(math.prod(kernel.shape[:-1]))
        for name in ("kernel", "bias"):
            v = np.asarray(flat[layer + (name,)])
            assert np.abs(v).max() <= bound + 1e-7, (layer, name)
            # a real redraw: the uniform's range is used, not a rescaled copy of DLG's init
            assert np.abs(v).max() > 0.5 * bound, (layer, name)
        # DLG's explicit init spans U(-0.5, 0.5), far wider than the conv's PyTorch bound
        assert np.abs(np.asarray(flat_explicit[layer + ("kernel",)])).max() > 2 * bound
    # the same structure, so every attack and defense sees the same model otherwise
    assert jax.tree.structure(torch.params) == jax.tree.structure(explicit.params)


def test_torch_init_is_deterministic_per_seed():
    a, _ = build_model(_cfg(init="torch"), (8, 8, 1), 4)
    b, _ = build_model(_cfg(init="torch"), (8, 8, 1), 4)
    c, _ = build_model(_cfg(init="torch", seed=1), (8, 8, 1), 4)
    la, lb, lc = (jax.tree.leaves(m.params) for m in (a, b, c))
    assert all(np.array_equal(x, y) for x, y in zip(la, lb))
    assert not all(np.array_equal(x, y) for x, y in zip(la, lc))


def test_lenet_rejects_an_init_it_cannot_give():
    cell = dict(
        attack=Attack("idlg", steps=2),
        model=Model("lenet", init="flax"),
        data=Data("digits"),
        threat=Threat(),
        defense=Defense(),
        seed=0,
    )
    with pytest.raises(SweepError, match="model.init='flax'"):
        validate_cell("t", cell)
    validate_cell("t", {**cell, "model": Model("lenet", init="torch")})


def test_pretrained_state_follows_the_training_recipe():
    rng = np.random.default_rng(0)
    public = (rng.normal(size=(16, 8, 8, 1)).astype(np.float32), np.arange(16) % 4)
    untrained, _ = build_model(_cfg(), (8, 8, 1), 4)
    frozen, _ = build_model(
        _cfg(state="pretrained", train_steps=3, training={"lr": 0.0}), (8, 8, 1), 4, public, public
    )
    moved, info = build_model(
        _cfg(state="pretrained", train_steps=3, training={"lr": 0.03, "momentum": 0.0}),
        (8, 8, 1),
        4,
        public,
        public,
    )
    leaves = [jax.tree.leaves(m.params) for m in (untrained, frozen, moved)]
    # lr 0 from `training` leaves the weights where they were (the default lr 0.1 would not)
    assert all(np.array_equal(a, b) for a, b in zip(leaves[0], leaves[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(leaves[0], leaves[2]))
    assert 0.0 <= info["model_accuracy"] <= 1.0


@pytest.mark.parametrize("spec, expected", [("graddefense_comp", True), ("graddefense", False)])
def test_utility_applies_graddefense_compensation_only_when_asked(monkeypatch, spec, expected):
    import leakjax.fl
    from leakjax.sweep.plan import UtilityRun
    from leakjax.sweep.utility import run_utility

    seen = {}

    def fake_fedavg(*args, server_compensation=False, **kw):
        seen["comp"] = server_compensation
        raise RuntimeError("stop after the call")

    monkeypatch.setattr(leakjax.fl, "fedavg", fake_fedavg)
    u = Utility(Model("mlp", hidden=[4]), data="digits", defense=Defense(spec), rounds=1)
    row = run_utility(UtilityRun("id", {}, u), "env")
    assert row["status"] == "failed" and "stop after the call" in row["metrics"]["error"]
    assert seen["comp"] is expected
