"""run_batch with the weights shared across runs equals per-run weights; detection on the host."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import attacks, fl
from leakjax.attacks.run import params_shared
from leakjax.types import stack_observations


@pytest.fixture(scope="module")
def stacked(tiny_lenet, tiny_spec, tiny_images):
    obs = [
        fl.observe(jax.random.key(0), tiny_lenet, tiny_images[i : i + 1], jnp.array([i]), spec=tiny_spec)
        for i in range(3)
    ]
    return stack_observations(obs)


def test_detects_shared_and_per_run_weights(stacked):
    assert params_shared(stacked)
    other = stacked.replace(params=jax.tree.map(lambda a: a.at[1].add(1e-3), stacked.params))
    assert not params_shared(other)


@pytest.mark.parametrize("strategy", ["vmap", "map"])
def test_shared_weights_give_the_same_results(tiny_lenet, tiny_spec, stacked, strategy):
    # 2 L-BFGS moves: far from converged, so float32 rounding stays far below the tolerance
    att = attacks.dlg(tiny_lenet, spec=tiny_spec, optimizer=attacks.torch_lbfgs(max_iter=3))
    keys = jax.random.split(jax.random.key(3), 3)
    plain = attacks.run_batch(att, keys, stacked, steps=1, strategy=strategy, shared_params=False)
    shared = attacks.run_batch(att, keys, stacked, steps=1, strategy=strategy, shared_params=True)
    auto = attacks.run_batch(att, keys, stacked, steps=1, strategy=strategy)
    for r in (shared, auto):
        np.testing.assert_allclose(r.loss, plain.loss, rtol=1e-4)
        np.testing.assert_allclose(r.inputs, plain.inputs, atol=1e-5)
    # a run with other weights is attacked with its own weights (auto detection: not shared)
    moved = stacked.replace(params=jax.tree.map(lambda a: a.at[2].multiply(0.5), stacked.params))
    r = attacks.run_batch(att, keys, moved, steps=1, strategy=strategy)
    assert float(jnp.abs(r.loss[2] - plain.loss[2])) > 1e-3 * float(plain.loss[2])
    np.testing.assert_allclose(r.loss[:2], plain.loss[:2], rtol=1e-4)
