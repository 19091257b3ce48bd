"""Outpost (card 13): iteration-decayed, risk-scaled, Fisher-masked noise plus pruning.

Reference: Wang, Hugh, Li, "More than Enough is Too Much: Adaptive Defenses against Gradient
Leakage in Production Federated Learning", INFOCOM 2023. The public reference implementation
(plato) builds the perturbed tensor and then **returns the gradient unperturbed**, so it is a
no-op; this implements the intended algorithm, and results cannot match plato bit for bit.

Per call (one local iteration ``t = 1, 2, ...``, counted in the state):

1. With probability ``1 / (1 + beta * t)`` perturb; otherwise share the update unchanged.
   (plato uses ``epoch * (batch_idx + 1)``, a product that looks like a quirk; we use the running
   count ``t``.)
2. ``risk_l = min(Var(theta_l), 1)`` per tensor, the unbiased variance of the **current
   weights** (``params``; a one-entry tensor gets risk 0).
3. Empirical Fisher ``F_l = mean(g_l**2)`` over the *output* axis (PyTorch's axis 0 is the
   output channel; in flax kernels ``(..., in, out)`` it is the **last** axis; a bias reduces to
   a scalar), pooled over all tensors; the top ``fisher_percent`` % (``F >= percentile(pool,
   100 - phi)``) get noise.
4. Per tensor, zero the ``prune_fraction`` smallest ``|g|`` (rank rule).
5. ``g' = prune(g) + N(0, (risk_l * noise_base)**2) * fisher_mask``.

Threat model: the server sees the perturbed update; the attacker does not know which iterations
were perturbed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from leakjax.defenses._common import (
    canonicalize_key,
    check_fraction,
    check_number,
    keep_above_mask,
    split_like,
)
from leakjax.defenses.placement import located


class OutpostState(NamedTuple):
    key: jax.Array
    iteration: jax.Array  # number of updates done so far (int32)


def _fisher(g: jax.Array) -> jax.Array:
    g2 = jnp.square(jnp.asarray(g, jnp.float32))
    if g.ndim <= 1:
        return jnp.mean(g2).reshape(1)
    return jnp.mean(g2, axis=-1)


def outpost(
    key,
    *,
    beta=0.125,
    fisher_percent=40.0,
    prune_fraction=0.8,
    noise_base=0.8,
) -> optax.GradientTransformation:
    """Outpost as an optax transform; ``update(updates, state, params)`` needs ``params``.

    Args:
      key: typed PRNG key or int seed (the perturb decision and the noise).
      beta: decay of the perturbation probability ``1 / (1 + beta * t)`` (default 0.125).
      fisher_percent: phi, the percent of pooled Fisher entries that get noise (default 40).
      prune_fraction: fraction zeroed per tensor when perturbing (default 0.8 = plato's 80).
      noise_base: noise std per unit risk (default 0.8).
    All numeric arguments may be traced.

    Default placement ``"step"`` (the paper and plato): the decision, pruning and noise act on
    every local iteration's gradient, and the iteration counter ``t`` in the state runs over the
    local steps (carried through the local-training scan; across FedAvg rounds it keeps counting,
    so the perturbation probability decays over training, the paper's intent).
    """
    fn = "outpost"
    key = canonicalize_key(fn, key)
    check_number(fn, "beta", beta, lo=0.0, expected="a decay rate >= 0")
    check_number(
        fn, "fisher_percent", fisher_percent, lo=0.0, hi=100.0, expected="a percent in [0, 100]"
    )
    check_fraction(fn, "prune_fraction", prune_fraction)
    check_number(fn, "noise_base", noise_base, lo=0.0, expected="a std >= 0")

    def init_fn(params):
        del params
        return OutpostState(key=key, iteration=jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "outpost: update(updates, state, params) was called with params=None; Outpost "
                "needs the current weights (risk = their variance): pass params"
            )
        t = state.iteration + 1
        key_next, k_dec, k_noise = jax.random.split(state.key, 3)
        prob = 1.0 / (1.0 + beta * t.astype(jnp.float32))
        perturb = jax.random.uniform(k_dec) < prob

        def risk(p):
            p = jnp.asarray(p, jnp.float32)
            if p.size < 2:
                return jnp.zeros((), jnp.float32)
            return jnp.minimum(jnp.var(p, ddof=1), 1.0)

        risks = jax.tree.map(risk, params)
        fishers = jax.tree.map(_fisher, updates)
        pool = jnp.concatenate([f.ravel() for f in jax.tree.leaves(fishers)])
        thresh = jnp.percentile(pool, 100.0 - jnp.asarray(fisher_percent, jnp.float32))
        keys = split_like(k_noise, updates)

        def perturb_leaf(g, r, f, k):
            g = jnp.asarray(g)
            fm = (f >= thresh) & (jnp.asarray(fisher_percent) > 0)
            fm = fm.reshape(g.shape[:-1] + (1,)) if g.ndim > 1 else fm.reshape(())
            pruned = jnp.where(keep_above_mask(g, prune_fraction), g, jnp.zeros_like(g))
            noise = jax.random.normal(k, g.shape, jnp.float32) * (r * noise_base)
            out = pruned.astype(jnp.float32) + noise * fm
            return jnp.where(perturb, out, g.astype(jnp.float32)).astype(g.dtype)

        out = jax.tree.map(perturb_leaf, updates, risks, fishers, keys)
        return out, OutpostState(key=key_next, iteration=t)

    return located(optax.GradientTransformation(init_fn, update_fn), "step")
