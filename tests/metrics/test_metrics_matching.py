"""Hungarian matching of batch reconstructions to ground truth."""

import jax
import jax.numpy as jnp
import numpy as np

from leakjax import metrics


def test_match_batch_recovers_permutation():
    t = jax.random.uniform(jax.random.key(0), (6, 8, 8, 3))
    p = jnp.array([3, 0, 5, 4, 1, 2])
    recon = t[p] + 0.01 * jax.random.normal(jax.random.key(1), t.shape)
    perm = jax.jit(metrics.match_batch)(recon, t)
    np.testing.assert_array_equal(p[perm], jnp.arange(6))
    assert float(jnp.max(metrics.mse(recon[perm], t))) < 1e-3
    perm_s = metrics.match_batch(recon, t, cost="ssim")
    np.testing.assert_array_equal(perm_s, perm)
    # vmappable over runs
    perms = jax.vmap(metrics.match_batch, in_axes=(0, None))(jnp.stack([recon, recon]), t)
    assert perms.shape == (2, 6)
