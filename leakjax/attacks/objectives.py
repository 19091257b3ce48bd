"""Gradient distances used by gradient-matching attacks (pure functions over pytrees).

All take two trees of the same structure (the simulated update and the observed one) and return
a scalar. Optional ``weights`` is a tree of per-leaf scalars (or ``None`` for equal weights).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from leakjax.types import Grads


def _leaves(a: Grads, b: Grads):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        raise ValueError(
            f"gradient trees differ: {len(la)} leaves vs {len(lb)}; expected the params' structure"
        )
    return la, lb


def l2_distance(a: Grads, b: Grads, weights=None) -> jax.Array:
    """DLG's distance: ``sum_l w_l ||a_l - b_l||_2^2`` over all layers (no normalization)."""
    la, lb = _leaves(a, b)
    ws = jax.tree.leaves(weights) if weights is not None else [1.0] * len(la)
    return sum(w * jnp.sum((x - y) ** 2) for w, x, y in zip(ws, la, lb))


def mean_layer_l2_distance(a: Grads, b: Grads, weights=None) -> jax.Array:
    """GGL's distance: ``(1/L) sum_l w_l ||a_l - b_l||_2^2``."""
    return l2_distance(a, b, weights) / len(jax.tree.leaves(a))


def safe_cosine(dot, sq_a, sq_b, eps=0.0) -> jax.Array:
    """``dot / (sqrt(sq_a) sqrt(sq_b) + eps)``, defined as 0 (and with a zero, finite derivative)
    when either vector is all zero: a zero update carries no direction, so its cosine distance
    to anything is 1, never NaN."""
    prod = sq_a * sq_b
    ok = prod > 0
    root = jnp.sqrt(jnp.where(ok, prod, 1.0))
    return jnp.where(ok, dot / (root + eps), 0.0)


def cosine_distance(a: Grads, b: Grads, weights=None, eps: float = 0.0) -> jax.Array:
    """Inverting Gradients' distance: ``1 - <a, b> / (||a|| ||b||)`` over **all layers
    concatenated** (a global cosine, not a per-layer average). ``weights`` scale each layer's
    contribution to the inner product and both norms. 1 (not NaN) when either is all zero."""
    la, lb = _leaves(a, b)
    ws = jax.tree.leaves(weights) if weights is not None else [1.0] * len(la)
    dot = sum(w * jnp.sum(x * y) for w, x, y in zip(ws, la, lb))
    na = sum(w * jnp.sum(x * x) for w, x in zip(ws, la))
    nb = sum(w * jnp.sum(y * y) for w, y in zip(ws, lb))
    return 1.0 - safe_cosine(dot, na, nb, eps)


def layerwise_cosine_distance(a: Grads, b: Grads, weights=None, eps: float = 1e-12) -> jax.Array:
    """IG's "simlocal" variant: ``sum_l w_l (1 - cos(a_l, b_l))`` (a zero layer counts 1)."""
    la, lb = _leaves(a, b)
    ws = jax.tree.leaves(weights) if weights is not None else [1.0] * len(la)
    total = 0.0
    for w, x, y in zip(ws, la, lb):
        cos = safe_cosine(jnp.sum(x * y), jnp.sum(x * x), jnp.sum(y * y), eps)
        total = total + w * (1.0 - cos)
    return total


DISTANCES = {
    "l2": l2_distance,
    "mean_l2": mean_layer_l2_distance,
    "cosine": cosine_distance,
    "layer_cosine": layerwise_cosine_distance,
}
