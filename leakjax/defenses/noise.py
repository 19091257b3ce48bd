"""Additive Gaussian and Laplace noise on the shared update (card 8).

Threat model: the server (attacker) sees the noisy update; the noise is drawn by the client with
a key it keeps secret. References: Zhu et al., "Deep Leakage from Gradients", NeurIPS 2019
(noise sweep over the **variance** 1e-4..1e-1); GGL's ``additive_noise(std=...)``; Soteria's
and plato's Laplace defense (scale b = 0.1, which plato calls "epsilon" but is a scale).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.defenses._common import canonicalize_key, check_number, is_traced, split_like
from leakjax.defenses.placement import located


class GaussianNoiseState(NamedTuple):
    key: jax.Array


class LaplaceNoiseState(NamedTuple):
    key: jax.Array


def std_from_variance(noise_variance):
    """The std to pass to :func:`gaussian_noise` for DLG's variance axis: ``sqrt(variance)``.

    DLG sweeps the *variance* (1e-4, 1e-3, 1e-2, 1e-1); passing the variance as a std is the
    most common off-by-sqrt bug (card 8).
    """
    if not is_traced(noise_variance):
        check_number(
            "std_from_variance",
            "noise_variance",
            noise_variance,
            lo=0.0,
            expected="a variance >= 0",
        )
        return float(np.sqrt(float(noise_variance)))
    return jnp.sqrt(noise_variance)


def _additive(fn_name: str, state_cls, sampler, strength, key):
    key = canonicalize_key(fn_name, key)

    def init_fn(params):
        del params
        return state_cls(key=key)

    def update_fn(updates, state, params=None):
        del params
        key_next, sub = jax.random.split(state.key)
        keys = split_like(sub, updates)

        def add(g, k):
            g = jnp.asarray(g)
            noise = sampler(k, g.shape, jnp.float32) * strength
            return (g.astype(jnp.float32) + noise).astype(g.dtype)

        return jax.tree.map(add, updates, keys), state_cls(key=key_next)

    return located(optax.GradientTransformation(init_fn, update_fn), "step")


def gaussian_noise(noise_std, key) -> optax.GradientTransformation:
    """Add i.i.d. ``N(0, noise_std**2)`` to every entry of every tensor of the update.

    Args:
      noise_std: the noise **standard deviation** (same for all tensors). For DLG's variance
        axis use ``gaussian_noise(std_from_variance(var), key)``. May be a traced scalar.
      key: a typed PRNG key or an int seed; split on every update (fresh noise per call).

    Returns:
      An ``optax.GradientTransformation`` with state :class:`GaussianNoiseState`.

    Default placement ``"step"`` (:mod:`leakjax.defenses.placement`): plato adds its DP noise to
    every local step's gradient; DLG and GGL share one gradient, where both placements coincide.

    References: Zhu et al. 2019 (DLG), Sec. 5; card 8. Unlike ``optax.add_noise`` (annealed
    noise for optimization), the std is constant.
    """
    check_number("gaussian_noise", "noise_std", noise_std, lo=0.0, expected="a std >= 0")
    return _additive("gaussian_noise", GaussianNoiseState, jax.random.normal, noise_std, key)


def laplace_noise(noise_scale, key) -> optax.GradientTransformation:
    """Add i.i.d. ``Laplace(0, noise_scale)`` to every entry (variance ``2 * noise_scale**2``).

    Args:
      noise_scale: the Laplace **scale** b (plato/Soteria's "epsilon" = 0.1 is this scale, not
        a DP epsilon). May be traced.
      key: a typed PRNG key or an int seed.

    Default placement ``"step"``: plato's "DP" defense acts on every local step's gradient.
    """
    check_number("laplace_noise", "noise_scale", noise_scale, lo=0.0, expected="a scale >= 0")
    return _additive("laplace_noise", LaplaceNoiseState, jax.random.laplace, noise_scale, key)


def laplace_scale_from_variance(noise_variance):
    """The Laplace scale with the given variance: ``sqrt(variance / 2)``."""
    if not is_traced(noise_variance):
        check_number(
            "laplace_scale_from_variance",
            "noise_variance",
            noise_variance,
            lo=0.0,
            expected="a variance >= 0",
        )
        return float(np.sqrt(float(noise_variance) / 2.0))
    return jnp.sqrt(noise_variance / 2.0)
