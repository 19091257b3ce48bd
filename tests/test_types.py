"""Core types: DataSpec, Model, Observation, stacking and structure checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import fl
from leakjax.types import (
    DataSpec,
    Observation,
    ThreatModel,
    check_update_matches_params,
    stack_observations,
)


def test_dataspec_normalize_roundtrip_and_box():
    spec = DataSpec("c", (4, 4, 3), 10, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    x = jax.random.uniform(jax.random.key(0), (2, 4, 4, 3))
    np.testing.assert_allclose(spec.denormalize(spec.normalize(x)), x, atol=1e-6)
    lo, hi = spec.box()
    np.testing.assert_allclose(lo, [-2.5, -1.6, -0.6], rtol=1e-6)
    np.testing.assert_allclose(hi, [2.5, 2.4, 1.4], rtol=1e-6)


def test_dataspec_broadcasts_scalar_stats_and_validates():
    spec = DataSpec("g", (8, 8, 3), 2, mean=0.5, std=0.5)
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="std="):
        DataSpec("bad", (8, 8, 1), 2, std=0.0)
    with pytest.raises(ValueError, match="image_shape="):
        DataSpec("bad", (8, 8), 2)


def test_observation_is_a_pytree_and_stacks(tiny_obs):
    stacked = stack_observations([tiny_obs, tiny_obs, tiny_obs])
    assert jax.tree.leaves(stacked.update)[0].shape[0] == 3
    assert stacked.batch_size == tiny_obs.batch_size
    single = jax.tree.map(lambda x: x[1], stacked)
    assert isinstance(single, Observation)
    jax.tree.map(np.testing.assert_array_equal, single.update, tiny_obs.update)


def test_stack_rejects_different_metadata(tiny_obs):
    other = tiny_obs.replace(batch_size=2)
    with pytest.raises(ValueError, match="observations\\[1\\]"):
        stack_observations([tiny_obs, other])
    with pytest.raises(ValueError, match="empty"):
        stack_observations([])


def test_update_tree_check_names_the_path(tiny_lenet, tiny_obs):
    check_update_matches_params(tiny_obs.update, tiny_lenet.params)
    bad = dict(tiny_obs.update)
    bad.pop("conv1")
    with pytest.raises(ValueError, match="conv1"):
        check_update_matches_params(bad, tiny_lenet.params)
    bad = jax.tree.map(lambda x: x, tiny_obs.update)
    bad["classifier"] = dict(bad["classifier"], bias=jnp.zeros(7))
    with pytest.raises(ValueError, match="classifier/bias"):
        check_update_matches_params(bad, tiny_lenet.params)


def test_threat_model_validates():
    assert ThreatModel().labels == "infer"
    with pytest.raises(ValueError, match="labels='maybe'"):
        ThreatModel(labels="maybe")
    with pytest.raises(ValueError, match="bn_mode='sometimes'"):
        ThreatModel(bn_mode="sometimes")


def test_observe_validates_inputs(tiny_lenet, tiny_spec, tiny_images):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="images: shape"):
        fl.observe(key, tiny_lenet, jnp.zeros((1, 9, 9, 1)), jnp.array([0]), spec=tiny_spec)
    with pytest.raises(ValueError, match="labels: value 4 is out of range"):
        fl.observe(key, tiny_lenet, tiny_images[:1], jnp.array([4]), spec=tiny_spec)
    with pytest.raises(ValueError, match="labels: value -1"):
        fl.observe(key, tiny_lenet, tiny_images[:1], jnp.array([-1]), spec=tiny_spec)
    with pytest.raises(ValueError, match="labels: shape"):
        fl.observe(key, tiny_lenet, tiny_images[:2], jnp.array([0]), spec=tiny_spec)
