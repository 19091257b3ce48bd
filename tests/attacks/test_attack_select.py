"""run(select=...): the last iterate or the best one over all steps (breaching's rule).

A toy attack walks x -> x + 1 with matching loss (x - 3)^2, so the best iterate (x = 3) is known
exactly and differs from the last one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import attacks
from leakjax.attacks.base import Attack


def _walk(start=0.0, select="last", early_stop=False, tol=-1.0, with_key=False):
    def init(key, obs):
        x = jnp.full((1,), start, jnp.float32) + 0.0 * jax.random.uniform(key)
        return (x, key) if with_key else x

    def loss_of(x):
        return jnp.sum((x - 3.0) ** 2)

    def step(state, obs):
        x = state[0] if with_key else state
        new = x + 1.0
        if with_key:  # a typed key in the state must survive the best-state bookkeeping
            return (new, jax.random.split(state[1])[0]), loss_of(x)
        return new, loss_of(x)

    def result(state, obs):
        x = state[0] if with_key else state
        return x, jnp.zeros((1,), jnp.int32), loss_of(x)

    return Attack(
        init=init,
        step=step,
        result=result,
        spec=None,
        tol=tol,
        early_stop=early_stop,
        name="walk",
        decode=lambda raw, obs: raw,
        select=select,
    )


OBS = jnp.zeros(())


@pytest.mark.parametrize("with_key", [False, True])
def test_best_returns_the_lowest_loss_iterate_and_last_the_final_one(with_key):
    key = jax.random.key(0)
    last = attacks.run(_walk(with_key=with_key), key, OBS, steps=6)
    best = attacks.run(_walk(with_key=with_key), key, OBS, steps=6, select="best")
    np.testing.assert_array_equal(last.loss_trace, [9.0, 4.0, 1.0, 0.0, 1.0, 4.0])
    np.testing.assert_array_equal(best.loss_trace, last.loss_trace)
    assert float(last.inputs[0]) == 6.0 and float(last.loss) == 9.0
    assert float(best.inputs[0]) == 3.0 and float(best.loss) == 0.0


def test_the_attack_field_is_the_default_and_run_overrides_it():
    key = jax.random.key(0)
    assert float(attacks.run(_walk(select="best"), key, OBS, steps=6).inputs[0]) == 3.0
    r = attacks.run(_walk(select="best"), key, OBS, steps=6, select="last")
    assert float(r.inputs[0]) == 6.0


def test_final_state_wins_when_it_is_the_best():
    # 3 steps from 0: the final state x = 3 (loss 0) was never scored by a step
    r = attacks.run(_walk(), jax.random.key(0), OBS, steps=3, select="best")
    assert float(r.inputs[0]) == 3.0 and float(r.loss) == 0.0


def test_restarts_are_chosen_by_the_selected_iterates_loss():
    # from x = 2 a run passes x = 3 and ends at 6 (loss 9); from x = 4 it ends at 8 (loss 25)
    # and its best is x = 4 (loss 1): the kept restart's loss is its selected iterate's.
    def make(select):
        a = _walk(select=select)
        starts = jnp.asarray([2.0, 4.0])

        def init(key, obs):
            i = jax.random.randint(key, (), 0, 2)  # which start this restart gets
            return starts[i][None]

        return a._replace(init=init)

    key = jax.random.key(3)
    i0 = [int(jax.random.randint(k, (), 0, 2)) for k in jax.random.split(key, 2)]
    assert sorted(i0) == [0, 1], "pick a key whose two restarts get different starts"
    last = attacks.run(make("last"), key, OBS, steps=4, restarts=2)  # ends 6 (9) / 8 (25)
    best = attacks.run(make("best"), key, OBS, steps=4, restarts=2)  # best 3 (0) / 4 (1)
    assert float(last.loss) == 9.0 and float(last.inputs[0]) == 6.0
    assert float(best.loss) == 0.0 and float(best.inputs[0]) == 3.0


def test_best_is_jittable_vmappable_and_batched():
    a = _walk(select="best")
    keys = jax.random.split(jax.random.key(1), 3)
    out = jax.jit(jax.vmap(lambda k: attacks.run(a, k, OBS, steps=6)))(keys)
    np.testing.assert_array_equal(out.inputs[:, 0], [3.0, 3.0, 3.0])
    shared = attacks.run_batch(_walk(), keys, OBS, obs_axis=None, steps=6, select="best")
    np.testing.assert_array_equal(shared.inputs[:, 0], [3.0, 3.0, 3.0])


def test_select_is_validated():
    with pytest.raises(ValueError, match="select='first'"):
        attacks.run(_walk(), jax.random.key(0), OBS, steps=2, select="first")
    with pytest.raises(ValueError, match="select='first'"):
        attacks.run(_walk(select="first"), jax.random.key(0), OBS, steps=2)
    with pytest.raises(ValueError, match="select='x'"):
        attacks.run_batch(_walk(), jax.random.split(jax.random.key(0), 2), OBS, obs_axis=None,
                          steps=1, select="x")


def test_reference_defaults():
    """Each factory's choice follows its reference (see the factories' docstrings)."""
    from leakjax import models
    from leakjax.types import DataSpec

    spec = DataSpec("t", (8, 8, 1), 4)
    m = models.mlp(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4, hidden=(4,))
    assert attacks.dlg(m, spec=spec).select == "last"  # mit-han-lab/dlg: final dummy data
    assert attacks.idlg(m, spec=spec).select == "last"  # iDLG: final dummy data
    assert attacks.inverting_gradients(m, spec=spec).select == "last"  # inversefed, plato
    ig_b = attacks.inverting_gradients(m, spec=spec, preset="breaching")
    assert ig_b.select == "best"  # breaching


def test_ig_presets_equal_the_references_configs():
    """Every preset value, against the reference configs cited in inverting_gradients."""
    from leakjax.attacks.inverting_gradients import IG_PRESETS

    b, i, p = IG_PRESETS["breaching"], IG_PRESETS["inversefed"], IG_PRESETS["plato"]
    # breaching config/attack/invertinggradients.yaml (+ _default_optimization_attack.yaml)
    assert (b["tv_weight"], b["tv_variant"], b["max_steps"], b["signed"]) == (
        0.2, "breaching", 24000, True)
    assert (b["label_rule"], b["select"], b["init"], b["lr"]) == (
        "bias_corrected", "best", "randn", 0.1)
    # inversefed DEFAULT_CONFIG
    assert (i["tv_weight"], i["tv_variant"], i["max_steps"], i["signed"], i["select"]) == (
        0.1, "inversefed", 4800, False, "last")
    # plato untrained_eval.yml (csDLG)
    assert (p["tv_weight"], p["max_steps"], p["signed"], p["labels"], p["select"]) == (
        0.01, 2000, True, "given", "last")
    for cfg in (b, i, p):
        assert cfg["distance"] == "cosine" and cfg["weighting"] == "equal" and cfg["boxed"]
        assert cfg["schedule"] == "multistep"


def test_ig_preset_sets_the_attack_and_explicit_arguments_win():
    from leakjax import models
    from leakjax.types import DataSpec

    spec = DataSpec("t", (8, 8, 1), 4)
    m = models.mlp(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4, hidden=(4,))
    assert attacks.inverting_gradients(m, spec=spec, preset="plato").select == "last"
    over = attacks.inverting_gradients(m, spec=spec, preset="breaching", select="last")
    assert over.select == "last"
    with pytest.raises(ValueError, match="preset='geiping'"):
        attacks.inverting_gradients(m, spec=spec, preset="geiping")
    with pytest.raises(ValueError, match="tv_variant='median'"):
        attacks.inverting_gradients(m, spec=spec, tv_variant="median")
    assert attacks.gradinversion(m, spec=spec, bn_weight=None, group_weight=None,
                                 group_size=1).select == "best"


def test_ig_preset_is_the_same_attack_as_its_explicit_settings():
    from leakjax import fl, models
    from leakjax.attacks.inverting_gradients import IG_PRESETS
    from leakjax.types import DataSpec

    spec = DataSpec("t", (8, 8, 1), 4, mean=(0.5,), std=(0.25,))
    m = models.mlp(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4, hidden=(8,))
    x = jax.random.uniform(jax.random.key(1), (1, 8, 8, 1))
    obs = fl.observe(jax.random.key(0), m, x, jnp.array([1]), spec=spec)
    key = jax.random.key(2)
    for name in ("breaching", "inversefed"):
        cfg = {**IG_PRESETS[name], "max_steps": 8}
        by_preset = attacks.inverting_gradients(m, spec=spec, preset=name, max_steps=8)
        explicit = attacks.inverting_gradients(m, spec=spec, **cfg)
        a = attacks.run(by_preset, key, obs, steps=4)
        b = attacks.run(explicit, key, obs, steps=4)
        np.testing.assert_array_equal(a.loss_trace, b.loss_trace)
        np.testing.assert_array_equal(a.raw_inputs, b.raw_inputs)
    plain = attacks.run(attacks.inverting_gradients(m, spec=spec, max_steps=8), key, obs, steps=4)
    assert not np.array_equal(plain.raw_inputs, a.raw_inputs)  # inversefed: unsigned, TV 0.1
