"""MixUp and InstaHide input encodings (card 15, as in GradAttack, Huang et al. NeurIPS 2021).

The client trains on encoded inputs, so the shared gradient is the gradient at
``x~_i = sum_j lam_ij x_{pi_j(i)}`` with soft labels ``y~_i = sum_j lam_ij onehot(y_{pi_j(i)})``
(InstaHide also multiplies every pixel by an independent random sign). Partners: one random
permutation ``perm`` of the batch, and ``pi_j(i) = perm[(pos(i) + j) mod B]`` for j = 0..k-1 with
``pi_0(i) = i``, so the k images mixed into one are distinct when ``k <= B`` (with ``k > B``
they repeat). Coefficients ``lam_i ~ Dirichlet(alpha)``; if ``max_weight`` is set, up to 16
candidates are drawn and the first with ``max(lam) <= max_weight`` is used (the last one
otherwise), a bounded version of GradAttack's rejection sampling. The mixing is done in the
model's input space (normalized images), as in GradAttack.

Threat model: the server sees the gradient of the encoded batch; to attack, one must recover the
mixed (sign-flipped) inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.defenses._common import check_number, is_traced
from leakjax.defenses._tier2 import Tier2Defense
from leakjax.fl.client import GradFn, KeyedGradFn
from leakjax.types import Model

_CANDIDATES = 16


def _soft(y, num_classes):
    if y.ndim == 2:
        return y
    return jax.nn.one_hot(y, num_classes)


def encode(key, x, y, *, k: int, alpha, num_classes: int, max_weight=None, sign_flip=False):
    """Mix (and sign-flip) a batch: returns ``(x_tilde, y_soft)``."""
    b = x.shape[0]
    k_perm, k_lam, k_sign = jax.random.split(key, 3)
    perm = jax.random.permutation(k_perm, b)
    pos = jnp.argsort(perm)  # pos[i] = where i sits in perm
    idx = perm[(pos[:, None] + jnp.arange(k)[None, :]) % b]  # (B, k); idx[:, 0] == i
    alpha_vec = jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), (k,))
    lam = jax.random.dirichlet(k_lam, alpha_vec, (_CANDIDATES, b))  # (T, B, k)
    if max_weight is not None:
        ok = jnp.max(lam, axis=-1) <= max_weight  # (T, B)
        first = jnp.where(jnp.any(ok, 0), jnp.argmax(ok, 0), _CANDIDATES - 1)
        lam = jnp.take_along_axis(lam, first[None, :, None], axis=0)[0]
    else:
        lam = lam[0]
    xs = x[idx]  # (B, k, ...)
    lam_x = lam.reshape(lam.shape + (1,) * (x.ndim - 1))
    xt = jnp.sum(lam_x * xs, axis=1)
    ys = _soft(y, num_classes)[idx]  # (B, k, C)
    yt = jnp.sum(lam[..., None] * ys, axis=1)
    if sign_flip:
        xt = xt * jax.random.rademacher(k_sign, xt.shape, xt.dtype)
    return xt, yt


class InputMixing(Tier2Defense):
    """See :func:`mixup` and :func:`instahide`."""

    def __init__(self, name, k, alpha, max_weight, sign_flip):
        self.name = name
        self.k, self.alpha, self.max_weight, self.sign_flip = k, alpha, max_weight, sign_flip
        self.description = f"{name}(k={k}, alpha={alpha}, max_weight={max_weight})"

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        def keyed(key, params, x, y):
            xt, yt = encode(
                key,
                x,
                y,
                k=self.k,
                alpha=self.alpha,
                num_classes=model.num_classes,
                max_weight=self.max_weight,
                sign_flip=self.sign_flip,
            )
            return grad_fn(params, xt, yt)

        return keyed


def _check(fn, k, alpha, max_weight):
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{fn}: k={k!r}, expected a positive integer (images mixed per input)")
    if not is_traced(alpha):
        for a in np.atleast_1d(np.asarray(alpha, float)):
            check_number(fn, "alpha", float(a), lo=0.0, lo_open=True, expected="alpha > 0")
    if max_weight is not None:
        check_number(
            fn,
            "max_weight",
            max_weight,
            lo=1.0 / k,
            hi=1.0,
            expected=f"a bound in [1/k, 1] = [{1.0 / k:.3g}, 1]",
        )


def mixup(k: int = 4, alpha=1.0, *, max_weight=None) -> InputMixing:
    """k-way MixUp of the client's batch (tier 2).

    Args:
      k: images mixed into each input (static).
      alpha: Dirichlet concentration, a scalar or a length-k sequence.
      max_weight: optional upper bound on the largest coefficient (e.g. 0.65).

    References: Zhang et al., "mixup", ICLR 2018; Huang et al., "Evaluating Gradient Inversion
    Attacks and Defenses in Federated Learning", NeurIPS 2021.
    """
    _check("mixup", k, alpha, max_weight)
    return InputMixing("mixup", k, alpha, max_weight, False)


def instahide(k: int = 4, alpha=None, *, max_weight=0.65) -> InputMixing:
    """InstaHide (inside-dataset variant): MixUp, then a random sign per pixel (tier 2).

    Args:
      k: images mixed into each input (default 4).
      alpha: Dirichlet concentration; default ``(3, 1, ..., 1)`` (more weight on the own image,
        as GradAttack).
      max_weight: upper bound on the largest coefficient (default 0.65).

    References: Huang, Song, Li, Arora, "InstaHide", ICML 2020; Huang et al., NeurIPS 2021.
    """
    if alpha is None and isinstance(k, int) and k >= 1:
        alpha = tuple([3.0] + [1.0] * (k - 1))
    _check("instahide", k, alpha, max_weight)
    return InputMixing("instahide", k, alpha, max_weight, True)
