"""Magnitude pruning (DLG / gradient-compression convention) and top-k with error feedback.

Card 9. ``prune_fraction`` is the fraction of entries **zeroed** per tensor (DLG's "sparsity";
sparsity 20% keeps 80%). ``keep_fraction`` is the fraction **sent** (DGC's sparsity 99.9% is
``keep_fraction=0.001``). Both use the rank rule of :mod:`leakjax.defenses._common`: exactly
``round(fraction * n)`` entries per tensor, ties broken by flat index; ``method="percentile"``
gives the references' threshold rule instead (ties at the threshold all kept).

References: Zhu et al., DLG, NeurIPS 2019 (pruning > 20% stops DLG); Lin et al., "Deep Gradient
Compression", ICLR 2018 (top-k + local residual accumulation).
Threat model: the server sees the sparse update (values and positions).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from leakjax.defenses._common import (
    check_fraction,
    check_method,
    error_feedback_sparsifier,
    keep_above_mask,
    magnitude_ranks,
)
from leakjax.defenses.placement import located


class PruneByMagnitudeState(NamedTuple):
    """No state."""


class TopkSparsifyState(NamedTuple):
    residual: optax.Updates


def num_kept(keep_fraction, n: int) -> jax.Array:
    """Entries sent by top-k: ``ceil(keep_fraction * n)``, at least 1 (exact for p*n integer)."""
    k = jnp.ceil(jnp.asarray(keep_fraction, jnp.float32) * n - 1e-3)
    return jnp.clip(k, 1, n).astype(jnp.int32)


def prune_by_magnitude(prune_fraction, *, method: str = "rank") -> optax.GradientTransformation:
    """Zero the ``prune_fraction`` smallest-magnitude entries of every tensor (per tensor).

    Args:
      prune_fraction: fraction zeroed per tensor, in [0, 1). May be traced.
      method: ``"rank"`` (exactly ``round(p * n)`` zeroed; default) or ``"percentile"``
        (the references' ``|g| >= percentile(|g|, 100 p)`` rule).

    Ties: with ``"rank"``, among entries of equal magnitude at the cut, those earlier in
    row-major order are zeroed first, so the count is exact. With ``"percentile"`` all tied
    entries are kept, so fewer than ``p * n`` may be zeroed.

    Default placement ``"step"``: plato's GC defense prunes every local step's gradient (DLG
    shares one gradient, where both placements coincide).
    """
    check_fraction("prune_by_magnitude", "prune_fraction", prune_fraction)
    check_method("prune_by_magnitude", method)

    def init_fn(params):
        del params
        return PruneByMagnitudeState()

    def update_fn(updates, state, params=None):
        del params

        def prune(g):
            g = jnp.asarray(g)
            return jnp.where(keep_above_mask(g, prune_fraction, method), g, jnp.zeros_like(g))

        return jax.tree.map(prune, updates), state

    return located(optax.GradientTransformation(init_fn, update_fn), "step")


def topk_sparsify(
    keep_fraction, *, error_feedback: bool = True, method: str = "rank"
) -> optax.GradientTransformation:
    """Send only the ``keep_fraction`` largest-magnitude entries per tensor (DGC style).

    With ``error_feedback`` the unsent part is kept in ``TopkSparsifyState.residual`` and added
    to the next update before selection: ``a = g + e; sent = a * M; e' = a - sent`` (so
    ``sent + e' == g + e`` exactly). DGC's momentum correction, local clipping and warm-up are
    training-loop choices and are not part of this transform. Per tensor exactly
    ``max(1, ceil(keep_fraction * n))`` entries are sent (rank rule, ties by flat index), so a
    small tensor (a bias) is never silenced for ever.

    Args:
      keep_fraction: fraction sent per tensor, in (0, 1]. May be traced.
      error_feedback: keep the unsent residual (static).
      method: ``"rank"`` or ``"percentile"`` (see :func:`prune_by_magnitude`).

    Default placement ``"update"``: DGC compresses what goes on the wire, and the residual is
    carried from one shared update to the next.
    """
    check_fraction(
        "topk_sparsify", "keep_fraction", keep_fraction, allow_one=True, allow_zero=False
    )
    check_method("topk_sparsify", method)

    def select_mask(a):
        if method == "percentile":
            return keep_above_mask(a, 1.0 - keep_fraction, method)
        return magnitude_ranks(a) >= a.size - num_kept(keep_fraction, a.size)

    return located(error_feedback_sparsifier(select_mask, TopkSparsifyState, error_feedback), "update")
