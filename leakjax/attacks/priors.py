"""Image priors for gradient inversion: total variation, BatchNorm statistics, group consistency.

* :func:`total_variation`: Inverting Gradients' anisotropic TV with **means** (card 3):
  ``mean|x[:, :, 1:] - x[:, :, :-1]| + mean|x[:, 1:] - x[:, :-1]|`` over every element.
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
