"""Image priors for gradient inversion: total variation, BatchNorm statistics, group consistency.

* :func:`total_variation`: Inverting Gradients' anisotropic TV with **means** over the interior
  differences (card 3), as inversefed (``inversefed/metrics.py``) and plato
  (``examples/gradient_leakage_attacks/utils/helpers.py``) compute it:
  ``mean|x[:, :, 1:] - x[:, :, :-1]| + mean|x[:, 1:] - x[:, :-1]|``, each mean over its own
  ``B*H*(W-1)*C`` (resp. ``B*(H-1)*W*C``) differences.
* :func:`total_variation_breaching`: breaching's TV (``breaching/attacks/auxiliaries/
  regularizers.py``, ``TotalVariation`` with ``inner_exp = outer_exp = 1``): a forward-difference
  stencil ``[-1, 1]`` per channel with **zero padding**, so the last column contributes
  ``|0 - x[:, :, W-1]|`` and the last row ``|0 - x[:, H-1]|``, and one mean over all
  ``B*H*W*C`` positions: ``mean(|dx| + eps + |dy| + eps)`` (``eps = 1e-8``). In normalized space
  the padding value 0 is the dataset's mean colour, so the boundary terms pull the border
  towards it. The two totals differ by the boundary terms and by the normalization (one
  denominator ``B*H*W*C`` against two interior ones); their gradients differ in sign on a
  small fraction of pixels, which matters for IG's signed steps.
* :func:`bn_statistics_loss`: DeepInversion / GradInversion's BatchNorm prior (card 5):
  ``sum_l s_l (||mu_l(x) - mu_l^run||_2 + ||var_l(x) - var_l^run||_2)`` where ``mu_l``/``var_l``
  are the per-channel mean and biased variance of the input of BatchNorm layer ``l`` over
  (N, H, W) for the dummy batch, and ``s_1 = first_scale`` (10 in DeepInversion), ``s_l = 1``
  after. Needs ``model.extra["bn_stats_fn"]`` (the zoo's ConvNet and ResNets provide it, see
  :mod:`leakjax.models.bn`) and the running statistics (threat model: ``bn_stats_known``).
* :func:`group_consistency`: GradInversion's group term ``||x_g - E||_2`` per candidate, with the
  consensus ``E`` the pixel-wise mean of the G candidates **without registration** (the paper
  aligns candidates with RANSAC-flow; an unregistered mean is the documented simplification)
  and treated as a constant (stop-gradient), as a moving target.
* :func:`l2_norm`: ``||x||_2`` per image batch (GradInversion's alpha_l2 term).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from leakjax.types import Array, Model, Params


def total_variation(x: Array) -> Array:
    """Anisotropic TV with means over all elements, for NHWC (or HWC) images."""
    dx = jnp.mean(jnp.abs(x[..., :, 1:, :] - x[..., :, :-1, :]))
    dy = jnp.mean(jnp.abs(x[..., 1:, :, :] - x[..., :-1, :, :]))
    return dx + dy


def total_variation_breaching(x: Array, eps: float = 1e-8) -> Array:
    """breaching's TV for NHWC (or HWC) images: zero-padded forward differences, one mean.

    ``mean_{b,i,j,c} (|x[i, j+1] - x[i, j]| + eps) + (|x[i+1, j] - x[i, j]| + eps)`` with
    ``x[i, W] = x[H, j] = 0`` (the stencil ``[-1, 1]`` with zero padding), over all
    ``B*H*W*C`` positions.
    """
    x = jnp.asarray(x)
    pad_w = [(0, 0)] * (x.ndim - 2) + [(0, 1), (0, 0)]
    pad_h = [(0, 0)] * (x.ndim - 3) + [(0, 1), (0, 0), (0, 0)]
    dx = jnp.pad(x, pad_w)[..., :, 1:, :] - x
    dy = jnp.pad(x, pad_h)[..., 1:, :, :] - x
    return jnp.mean((jnp.abs(dx) + eps) + (jnp.abs(dy) + eps))


TV_VARIANTS = {"inversefed": total_variation, "breaching": total_variation_breaching}
"""TV variant name -> function of the image batch (see the module docstring)."""


def l2_norm(x: Array) -> Array:
    return jnp.sqrt(jnp.sum(jnp.square(x)))


def has_bn_statistics(model: Model) -> bool:
    return callable(model.extra.get("bn_stats_fn"))


def bn_statistics_loss(model: Model, params: Params, x: Array, first_scale=10.0) -> Array:
    """BatchNorm-statistics prior of the dummy batch ``x`` (model input space)."""
    if not has_bn_statistics(model):
        raise ValueError(
            f"bn_statistics_loss: model {model.name!r} exposes no BatchNorm statistics "
            "(model.extra['bn_stats_fn']); use a zoo model with BatchNorm (convnet, resnet18, "
            "resnet20) or attach one with leakjax.models.bn.attach_bn_statistics"
        )
    stats = model.extra["bn_stats_fn"](params, x)
    if not stats:
        raise ValueError(f"bn_statistics_loss: model {model.name!r} has no BatchNorm layers")
    total = 0.0
    for i, (mu, var, run_mu, run_var) in enumerate(stats):
        scale = first_scale if i == 0 else 1.0
        total = total + scale * (l2_norm(mu - run_mu) + l2_norm(var - run_var))
    return total


def group_consistency(xs: Array) -> Array:
    """Per-candidate distance ``||x_g - stop_gradient(mean_g x_g)||_2``; ``xs`` is ``(G, ...)``."""
    consensus = jax.lax.stop_gradient(jnp.mean(xs, axis=0))
    return jax.vmap(lambda x: l2_norm(x - consensus))(xs)
