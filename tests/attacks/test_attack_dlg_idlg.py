"""DLG and iDLG: contract tests and behaviour on a tiny sigmoid LeNet."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from contracts import assert_attack_contract

from leakjax import attacks, fl, metrics
from leakjax.attacks.optim import torch_lbfgs
from leakjax.types import Status


@pytest.mark.parametrize("name", ["dlg", "idlg"])
def test_contract(name, tiny_lenet, tiny_spec, tiny_obs):
    def make(lr=1.0):
        return attacks.ATTACKS[name](
            tiny_lenet, spec=tiny_spec, optimizer=torch_lbfgs(lr=lr, max_iter=3)
        )

    assert_attack_contract(make, tiny_obs, steps=2, hyper_name="lr", hyper_values=[0.5, 1.0])


def test_idlg_recovers_image_and_label(tiny_lenet, tiny_spec, tiny_images, tiny_obs):
    r = jax.jit(
        lambda k: attacks.run(attacks.idlg(tiny_lenet, spec=tiny_spec), k, tiny_obs, steps=60)
    )(jax.random.key(3))
    assert int(r.labels[0]) == 2
    assert float(metrics.mse(r.inputs, tiny_images[:1])[0]) < 1e-3
    assert int(r.status) == Status.CONVERGED
    assert r.loss_trace.shape == (60,)
    assert float(r.loss_trace[0]) > float(r.loss)


def test_dlg_recovers_label_and_image(tiny_lenet, tiny_spec, tiny_images, tiny_obs):
    r = jax.jit(
        lambda k: attacks.run(
            attacks.dlg(tiny_lenet, spec=tiny_spec), k, tiny_obs, steps=60, restarts=2
        )
    )(jax.random.key(4))
    assert int(r.labels[0]) == 2  # the victim's label, argmax of the optimized logits
    assert float(metrics.mse(r.inputs, tiny_images[:1])[0]) < 1e-3
    assert float(r.loss) < 1e-2 * float(r.loss_trace[0])
    assert r.inputs.shape == tiny_images[:1].shape
    assert float(jnp.min(r.inputs)) >= 0.0 and float(jnp.max(r.inputs)) <= 1.0
    assert int(r.restart) in (0, 1)


def test_idlg_label_rule_bias_and_weight(tiny_lenet, tiny_spec, tiny_images):
    for y in range(4):
        obs = fl.observe(
            jax.random.key(0), tiny_lenet, tiny_images[:1], jnp.array([y]), spec=tiny_spec
        )
        assert int(attacks.idlg_label(tiny_lenet, obs.update)[0]) == y
        assert int(attacks.labels.idlg_weight_label(tiny_lenet, obs.update)[0]) == y


def test_idlg_given_labels_needs_revealed_labels(tiny_lenet, tiny_spec, tiny_obs):
    att = attacks.idlg(tiny_lenet, spec=tiny_spec, labels="given")
    with pytest.raises(ValueError, match="reveal_labels"):
        attacks.run(att, jax.random.key(0), tiny_obs, steps=1)


def test_dlg_with_optax_optimizer(tiny_lenet, tiny_spec, tiny_obs):
    att = attacks.dlg(tiny_lenet, spec=tiny_spec, optimizer=optax.adam(0.05))
    r = attacks.run(att, jax.random.key(0), tiny_obs, steps=30)
    assert float(r.loss) < float(r.loss_trace[0])


def test_divergence_is_reported_not_raised(tiny_lenet, tiny_spec, tiny_obs):
    # a NaN step poisons the iterate: every run must be flagged, none may raise
    att = attacks.dlg(tiny_lenet, spec=tiny_spec, optimizer=optax.sgd(float("nan")))
    keys = jax.random.split(jax.random.key(0), 2)
    out = jax.vmap(lambda k: attacks.run(att, k, tiny_obs, steps=5))(keys)
    assert np.all(np.asarray(out.status) == Status.DIVERGED)
    assert np.all(np.isfinite(np.asarray(out.inputs)))


def test_nan_in_one_victim_does_not_poison_others(tiny_lenet, tiny_spec, tiny_images):
    obs_ok = fl.observe(
        jax.random.key(0), tiny_lenet, tiny_images[:1], jnp.array([1]), spec=tiny_spec
    )
    bad_update = jax.tree.map(lambda g: jnp.full_like(g, jnp.nan), obs_ok.update)
    from leakjax.types import stack_observations

    stacked = stack_observations([obs_ok, obs_ok.replace(update=bad_update)])
    att = attacks.idlg(tiny_lenet, spec=tiny_spec)
    keys = jax.random.split(jax.random.key(1), 2)
    out = attacks.run_batch(att, keys, stacked, steps=40, strategy="vmap")
    assert int(out.status[0]) == Status.CONVERGED
    assert int(out.status[1]) == Status.DIVERGED


@pytest.mark.parametrize("strategy", ["vmap", "map", "threads"])
def test_run_batch_strategies_agree(strategy, tiny_lenet, tiny_spec, tiny_obs):
    att = attacks.idlg(tiny_lenet, spec=tiny_spec, optimizer=torch_lbfgs(max_iter=4))
    keys = jax.random.split(jax.random.key(5), 3)
    out = attacks.run_batch(att, keys, tiny_obs, obs_axis=None, steps=3, strategy=strategy)
    ref = jax.vmap(lambda k: attacks.run(att, k, tiny_obs, steps=3))(keys)
    np.testing.assert_allclose(out.inputs, ref.inputs, rtol=1e-3, atol=1e-4)


def test_bad_inputs(tiny_lenet, tiny_spec, tiny_obs):
    att = attacks.idlg(tiny_lenet, spec=tiny_spec)
    other = tiny_obs.replace(update={k: v for k, v in tiny_obs.update.items() if k != "conv2"})
    with pytest.raises(ValueError, match="observation.update.*conv2"):
        attacks.run(att, jax.random.key(0), other, steps=1)
    with pytest.raises(ValueError, match="steps=0"):
        attacks.run(att, jax.random.key(0), tiny_obs, steps=0)
    with pytest.raises(TypeError, match="typed PRNG key"):
        attacks.run(att, jax.random.PRNGKey(0), tiny_obs, steps=1)
    with pytest.raises(ValueError, match="label_rule='nope'"):
        attacks.idlg(tiny_lenet, spec=tiny_spec, label_rule="nope")
    with pytest.raises(TypeError, match="optimizer="):
        attacks.dlg(tiny_lenet, spec=tiny_spec, optimizer="adam")
    with pytest.raises(ValueError, match="strategy='fast'"):
        attacks.run_batch(
            att, jax.random.split(jax.random.key(0), 2), tiny_obs, steps=1, strategy="fast"
        )


def test_run_batch_compiles_once_per_attack(tiny_lenet, tiny_spec, tiny_obs):
    from leakjax.attacks.run import _compiled_program

    att = attacks.idlg(tiny_lenet, spec=tiny_spec, optimizer=torch_lbfgs(max_iter=2))
    keys = jax.random.split(jax.random.key(0), 2)
    before = _compiled_program.cache_info().misses
    for _ in range(3):
        attacks.run_batch(att, keys, tiny_obs, obs_axis=None, steps=1, strategy="map")
    assert _compiled_program.cache_info().misses == before + 1


def test_run_restart_strategies_agree(tiny_lenet, tiny_spec, tiny_obs):
    # one step, so the restarts' losses are far apart and the best one is well defined
    att = attacks.idlg(tiny_lenet, spec=tiny_spec)
    key = jax.random.key(7)
    by_map = attacks.run(att, key, tiny_obs, steps=1, restarts=3, restart_strategy="map")
    by_vmap = attacks.run(att, key, tiny_obs, steps=1, restarts=3, restart_strategy="vmap")
    assert int(by_map.restart) == int(by_vmap.restart)
    np.testing.assert_allclose(by_map.loss_trace, by_vmap.loss_trace, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(by_map.inputs, by_vmap.inputs, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="restart_strategy='pmap'"):
        attacks.run(att, key, tiny_obs, steps=3, restarts=2, restart_strategy="pmap")
