"""Image reconstruction metrics with an explicit space (card 16 of the algorithm cards).

All functions take batches ``(B, H, W, C)`` and return **per-image** values ``(B,)``; nothing
is reduced over the batch. The default space is **[0, 1]** pixels (DLG/iDLG's convention;
reconstructions in [0, 1] come out of :func:`leakjax.attacks.run`). Pass ``space="normalized"``
with ``mean``/``std`` to compute MSE in the model's normalized space, as Inverting Gradients,
Soteria and plato/Outpost report it (MSE_norm = mean_c MSE_c,[0,1] / std_c^2), or
``space="pm1"`` for GGL's [-1, 1] (MSE x4; PSNR 6.02 dB lower).

Inputs are always [0, 1] images, whatever the space (the space maps them). A target outside
[0, 1] (e.g. 8-bit 0..255 values) is refused with a ValueError when its values are concrete;
inside ``jit`` it cannot be checked. A single ``(H, W, C)`` image is refused with a message
asking for the batch axis.
"""

from __future__ import annotations

import dm_pix
import jax
import jax.numpy as jnp

SPACES = ("unit", "normalized", "pm1")


def _to_space(x, space, mean, std):
    if space == "unit":
        return x
    if space == "pm1":
        return 2.0 * x - 1.0
    if space == "normalized":
        if mean is None or std is None:
            raise ValueError("space='normalized' needs mean= and std= (per-channel, [0,1] units)")
        return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)
    raise ValueError(f"space={space!r}, expected one of {SPACES}")


def _check(a, b, fn):
    if a.ndim == 3 and b.ndim == 3 and a.shape == b.shape:
        raise ValueError(
            f"{fn}: got single images of shape {a.shape}; metrics take (B, H, W, C) batches "
            f"and return one value per image: add the batch axis, e.g. {fn}(x_hat[None], x[None])"
        )
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(
            f"{fn}: reconstruction shape {a.shape} and target shape {b.shape} must be equal "
            "(B, H, W, C) batches"
        )
    _check_range(b, fn)


#: How far outside [0, 1] a target may stray (float rounding) before it is refused.
RANGE_TOLERANCE = 1e-3


def _check_range(x, fn):
    """Targets are [0, 1] images whatever ``space`` says (``space`` maps them). A concrete
    target outside [0, 1] (for example 8-bit values 0..255) would give meaningless numbers, such
    as a PSNR of 0 dB, so it is refused; under ``jit`` (a traced target) nothing is checked."""
    if isinstance(x, jax.core.Tracer):
        return
    lo, hi = float(jnp.min(x)), float(jnp.max(x))
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise ValueError(
            f"{fn}: the target images span [{lo:g}, {hi:g}], but metrics take images in [0, 1] "
            "(8-bit images: divide by 255; for another space pass [0, 1] images and "
            f"space={SPACES[1:]!r})"
        )


def mse(x_hat, x, *, space: str = "unit", mean=None, std=None):
    """Per-image mean squared error ``(B,)`` in the given space (mean over H, W, C)."""
    x_hat, x = jnp.asarray(x_hat, jnp.float32), jnp.asarray(x, jnp.float32)
    _check(x_hat, x, "mse")
    a, b = _to_space(x_hat, space, mean, std), _to_space(x, space, mean, std)
    return jnp.mean((a - b) ** 2, axis=(1, 2, 3))


def psnr(x_hat, x, *, space: str = "unit", mean=None, std=None):
    """Per-image PSNR in dB ``(B,)``: ``10 log10(peak^2 / MSE)``.

    Peak is 1 in [0, 1] space, 2 in [-1, 1]... except that GGL uses peak 1 on [-1, 1], which
    ``space="pm1"`` reproduces (6.02 dB below [0, 1]). In normalized space the peak is the
    per-channel dynamic range ``1/std`` (IG/plato's ``factor``): one MSE over all channels, the
    per-channel peak inside the log, then averaged over channels, as the references do. ``inf`` when MSE is 0.
    """
    x_hat, x = jnp.asarray(x_hat, jnp.float32), jnp.asarray(x, jnp.float32)
    _check(x_hat, x, "psnr")
    if space == "normalized":
        # IG/plato: one MSE over all pixels and channels, the per-channel peak 1/std inside
        # the log, then the mean over channels
        m = mse(x_hat, x, space=space, mean=mean, std=std)
        peak = 1.0 / jnp.asarray(std, jnp.float32)
        return jnp.mean(10.0 * jnp.log10(peak[None, :] ** 2 / m[:, None]), axis=-1)
    m = mse(x_hat, x, space=space)
    return 10.0 * jnp.log10(1.0 / m)


def ssim(x_hat, x, *, space: str = "unit", mean=None, std=None):
    """Per-image SSIM ``(B,)`` (Wang et al. 2004: Gaussian 11x11 window, sigma 1.5, K1 0.01,
    K2 0.03, per channel and averaged), computed with dm-pix on [0, 1] images with
    ``max_val=1``. Other spaces are affine maps of [0, 1]; SSIM is computed on [0, 1] with the
    matching data range, which gives the same value, so ``space`` only validates its argument.
    """
    x_hat, x = jnp.asarray(x_hat, jnp.float32), jnp.asarray(x, jnp.float32)
    _check(x_hat, x, "ssim")
    _to_space(x, space, mean, std)
    return dm_pix.ssim(x, x_hat, max_val=1.0)


def label_accuracy(pred, true):
    """Per-run label accuracy: order-free multiset overlap / B (exact match for B = 1).

    ``pred`` and ``true`` are integer arrays ``(..., B)``; returns ``(...)``.
    """
    pred, true = jnp.asarray(pred), jnp.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(f"label_accuracy: pred shape {pred.shape} != true shape {true.shape}")
    num_classes = int(max(int(jnp.max(pred)), int(jnp.max(true)))) + 1
    ph = jnp.sum(jnp.eye(num_classes)[pred], axis=-2)
    th = jnp.sum(jnp.eye(num_classes)[true], axis=-2)
    return jnp.sum(jnp.minimum(ph, th), axis=-1) / pred.shape[-1]
