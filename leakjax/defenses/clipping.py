"""Global-norm clipping of the (batch) update, GGL's "gradient clipping" defense (card 8).

Threat model: the server sees ``g * min(1, C / (||g|| + 1e-6))``; this is *not* DP-SGD's
per-example clipping (see :func:`leakjax.defenses.dp_sgd`). Reference: Li et al., "Auditing
Privacy Defenses in Federated Learning via Generative Gradient Leakage", CVPR 2022 (default
C = 4).

``optax.clip_by_global_norm`` is not reused: it computes ``g / ||g|| * C`` without GGL's +1e-6 in
the denominator, so the outputs differ in the last bits and the attacker's simulation
(:mod:`leakjax.defenses.simulate`) must use the same rule as the client.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from leakjax.defenses._common import check_number, global_norm
from leakjax.defenses.placement import located

CLIP_EPS = 1e-6


class ClipGlobalNormState(NamedTuple):
    """No state (kept as a NamedTuple for uniformity)."""


def clip_coefficient(updates, max_norm) -> jax.Array:
    """GGL's ``min(1, max_norm / (||updates||_2 + 1e-6))`` over the whole tree."""
    return jnp.minimum(1.0, max_norm / (global_norm(updates) + CLIP_EPS))


def clip_tree(updates, max_norm):
    coef = clip_coefficient(updates, max_norm)
    return jax.tree.map(lambda g: (g * coef).astype(jnp.asarray(g).dtype), updates)


def clip_global_norm(max_norm) -> optax.GradientTransformation:
    """Scale the whole update by ``min(1, max_norm / (||g||_2 + 1e-6))``.

    Args:
      max_norm: the L2 bound C (> 0) on the global norm (norm of the per-tensor norms). May be
        traced.

    Default placement ``"step"``: GGL clips the one gradient it shares (FedSGD, where both
    placements coincide); in local training the clip bounds every step's gradient.
    """
    check_number(
        "clip_global_norm", "max_norm", max_norm, lo=0.0, lo_open=True, expected="a norm bound > 0"
    )

    def init_fn(params):
        del params
        return ClipGlobalNormState()

    def update_fn(updates, state, params=None):
        del params
        return clip_tree(updates, max_norm), state

    return located(optax.GradientTransformation(init_fn, update_fn), "step")
