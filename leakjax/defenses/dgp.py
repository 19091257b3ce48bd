"""DGP, Dual Gradient Pruning (card 11).

Reference: Xue, Hu, Zhao, Zhang, Hu, Sun, Yao, Dual Gradient Pruning, arXiv 2401.16687
(2024); the earlier "Aligned Dual Gradient Pruning" (ADGP) is a NeurIPS 2022 OpenReview
submission. The paper's exact default fractions are not known to us; the defaults
below are our choice, documented.

Rule, per tensor, after adding the error-feedback residual ``e`` (``a = g + e``):
drop the ``top_fraction`` largest and the ``bottom_fraction`` smallest ``|a|`` (rank rule of
:mod:`leakjax.defenses._common`: exactly ``round(f * n)`` entries at each end, ties by flat
index), send the middle band ``a * M``, keep ``e' = a * (1 - M)`` (both dropped ends) locally.
The fraction sent is ``1 - top_fraction - bottom_fraction``.

Threat model: the server sees the sparse middle band; the largest entries, which carry most of
what an inversion attack needs, never leave the client in the round they are computed.
"""

from __future__ import annotations

from typing import NamedTuple

import optax

from leakjax.defenses._common import (
    band_mask,
    check_fraction,
    check_method,
    error_feedback_sparsifier,
    is_traced,
)
from leakjax.defenses.placement import located

DEFAULT_TOP_FRACTION = 0.05
DEFAULT_BOTTOM_FRACTION = 0.8


class DualGradientPruningState(NamedTuple):
    residual: optax.Updates


def dual_gradient_pruning(
    top_fraction=DEFAULT_TOP_FRACTION,
    bottom_fraction=DEFAULT_BOTTOM_FRACTION,
    *,
    error_feedback: bool = True,
    method: str = "rank",
) -> optax.GradientTransformation:
    """Send only the middle magnitude band of every tensor (DGP).

    Args:
      top_fraction: fraction of largest-magnitude entries withheld per tensor (privacy part;
        default 0.05, "a few percent"). In [0, 1). May be traced.
      bottom_fraction: fraction of smallest-magnitude entries withheld per tensor
        (communication part, as in top-k; default 0.8). In [0, 1). May be traced.
        ``top_fraction + bottom_fraction`` must be < 1.
      error_feedback: keep both withheld ends in ``DualGradientPruningState.residual`` and add
        them to the next update (default on, card 11).
      method: ``"rank"`` (exact counts) or ``"percentile"`` (keep
        ``percentile(p_bottom) <= |a| < percentile(1 - p_top)``).

    Default placement ``"update"``: DGP prunes the update each client uploads, and the withheld
    ends are fed back into the next round's update (the paper's error feedback across rounds).
    """
    fn = "dual_gradient_pruning"
    check_fraction(fn, "top_fraction", top_fraction)
    check_fraction(fn, "bottom_fraction", bottom_fraction)
    check_method(fn, method)
    concrete = not is_traced(top_fraction) and not is_traced(bottom_fraction)
    if concrete and float(top_fraction) + float(bottom_fraction) >= 1.0:
        raise ValueError(
            f"{fn}: top_fraction={top_fraction!r} + bottom_fraction={bottom_fraction!r} "
            ">= 1, expected their sum < 1 (the sent band would be empty)"
        )

    tx = error_feedback_sparsifier(
        lambda a: band_mask(a, bottom_fraction, top_fraction, method),
        DualGradientPruningState,
        error_feedback,
    )
    return located(tx, "update")
