"""Order-free evaluation of batch reconstructions: Hungarian matching to the ground truth.

A batch gradient is invariant to the order of the samples, so a reconstruction of B images comes
back in an arbitrary order. :func:`match_batch` finds the permutation that minimizes the total
pairwise cost (per-pair MSE by default, or negative SSIM / PSNR) with the Hungarian algorithm
(``optax.assignment.hungarian_algorithm``; jittable and vmappable), and metrics are computed on
``recon[perm]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from leakjax.metrics.image import mse, psnr, ssim

COSTS = ("mse", "psnr", "ssim")


def pairwise_cost(recon, target, *, cost: str = "mse") -> jax.Array:
    """``(B, B)`` matrix: entry ``[i, j]`` is the cost of matching ``recon[i]`` to ``target[j]``.

    ``"mse"`` is the per-image MSE in [0, 1] space; ``"psnr"`` and ``"ssim"`` are negated so
    that lower is better.
    """
    if cost not in COSTS:
        raise ValueError(f"pairwise_cost: cost={cost!r}, expected one of {COSTS}")
    recon = jnp.asarray(recon, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    if recon.shape != target.shape or recon.ndim != 4:
        raise ValueError(
            f"pairwise_cost: recon shape {recon.shape} and target shape {target.shape} must be "
            "equal (B, H, W, C)"
        )
    fn = {"mse": mse, "psnr": psnr, "ssim": ssim}[cost]
    sign = 1.0 if cost == "mse" else -1.0
    b = recon.shape[0]
    r = jnp.repeat(recon, b, axis=0)
    t = jnp.tile(target, (b, 1, 1, 1))
    return sign * fn(r, t).reshape(b, b)


def match_batch(recon, target, *, cost: str = "mse") -> jax.Array:
    """Permutation ``perm`` ``(B,)`` such that ``recon[perm][j]`` is matched to ``target[j]``.

    Args:
      recon: reconstructed images ``(B, H, W, C)`` in [0, 1].
      target: ground-truth images, same shape.
      cost: ``"mse"``, ``"psnr"`` or ``"ssim"`` (the pairwise criterion).
    """
    c = pairwise_cost(recon, target, cost=cost)
    c = jnp.where(jnp.isfinite(c), c, 1e9)
    rows, cols = optax.assignment.hungarian_algorithm(c)
    perm = jnp.zeros((c.shape[1],), jnp.int32).at[cols].set(rows.astype(jnp.int32))
    return perm
