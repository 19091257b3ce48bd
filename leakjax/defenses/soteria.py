"""Soteria (Sun et al., CVPR 2021): prune the representation's most revealing features (card 12).

For the client's batch ``x`` (model input space) with representation ``r = features_fn(params,
x)`` of shape ``(B, D)`` (the input of the classifier layer, found through
``Model.features_fn``, never by layer index):

1. ``J = jacrev(x -> sum_b r[b])(x)``, shape ``(D, B, H, W, C)``: row ``f`` is
   ``d(sum_b r_{b,f}) / dx`` (one reverse pass per feature in the reference; one ``jacrev``
   here). Since the features of example b depend only on x_b, ``J[f, b]`` is ``d r_{b,f} / d x_b``.
2. ``ratio_{b,f} = ||J[f, b]||_2 / (r_{b,f} + representation_offset)``; score
   ``s_f = sum_b ratio_{b,f}``.
3. ``thresh = percentile(s, prune_percent)`` (linear interpolation); ``mask_f = 1[|s_f| >=
   thresh]``: the ``prune_percent`` % features with the smallest score are removed.
4. Only the classifier **kernel** gradient is masked. Flax stores it as ``(D, C)`` (PyTorch's
   ``(C, D)`` transposed), so Soteria's *column* ``f`` of the PyTorch weight is **row** ``f``
   here. The bias and all other layers are unchanged.

``representation_offset``: the DLG notebook and plato divide by ``r`` with no epsilon, the GS code
adds 0.1, GGL adds 1e-10. We default to **0.1** (GS convention), which keeps ReLU features
(``r = 0``) finite; pass ``representation_offset=0.0`` for the notebook's rule.

Threat model: the server sees the gradient with some rows of the classifier kernel gradient set
to zero; an adaptive attacker copies that zero pattern (``make_simulation("soteria", ...)``) or
drops the layer from its matching loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from leakjax.defenses._common import check_number
from leakjax.defenses._tier2 import Tier2Defense
from leakjax.fl.client import GradFn, KeyedGradFn
from leakjax.types import Model, _key_str


def soteria_mask(model: Model, params, x, *, prune_percent, representation_offset=0.1):
    """Soteria's keep-mask over the ``D`` representation features (bool ``(D,)``)."""
    feats = model.features_fn

    def summed(xx):
        return jnp.sum(feats(params, xx), axis=0)

    r = feats(params, x)  # (B, D)
    jac = jax.jacrev(summed)(x)  # (D, B, ...)
    d, b = jac.shape[0], jac.shape[1]
    norms = jnp.sqrt(jnp.sum(jnp.square(jac.reshape(d, b, -1)), axis=-1))  # (D, B)
    ratio = norms / (r.T + representation_offset)
    score = jnp.sum(ratio, axis=1)
    thresh = jnp.percentile(score, jnp.asarray(prune_percent, jnp.float32), method="linear")
    return jnp.abs(score) >= thresh


def mask_classifier_rows(model: Model, grads, keep):
    """Zero rows ``d`` with ``keep[d] == False`` of the classifier kernel gradient (``(D, C)``)."""
    path = tuple(model.classifier_kernel_path)

    def f(p, leaf):
        if tuple(_key_str(k) for k in p) == tuple(str(k) for k in path):
            return jnp.where(keep[:, None], leaf, jnp.zeros_like(leaf))
        return leaf

    return jax.tree_util.tree_map_with_path(f, grads)


class Soteria(Tier2Defense):
    """See :func:`soteria`."""

    name = "soteria"

    def __init__(self, prune_percent, representation_offset):
        self.prune_percent = prune_percent
        self.representation_offset = representation_offset
        self.description = (
            f"soteria(prune_percent={prune_percent}, representation_offset={representation_offset})"
        )

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        if model.features_fn is None:
            raise ValueError(
                f"soteria: model {model.name!r} has no features_fn (the representation entering "
                "the classifier layer); build it with leakjax.models.from_linen or "
                "leakjax.models.from_nnx (both capture it), or pass features_fn= to "
                "leakjax.models.from_fn"
            )

        def keyed(key, params, x, y):
            del key
            g = grad_fn(params, x, y)
            keep = soteria_mask(
                model,
                params,
                x,
                prune_percent=self.prune_percent,
                representation_offset=self.representation_offset,
            )
            return mask_classifier_rows(model, g, keep)

        return keyed


def soteria(prune_percent=60.0, *, representation_offset=0.1) -> Soteria:
    """Soteria as a tier-2 defense (needs ``model.features_fn``).

    Args:
      prune_percent: percent p in [0, 100) of representation features whose classifier-kernel
        gradient rows are zeroed (GS README 60, GGL 10, plato 50, DLG notebook 1). May be traced.
      representation_offset: added to ``r`` in the score's denominator (default 0.1, GS code).

    References: Sun et al., "Soteria: Provable Defense against Privacy Leakage in Federated
    Learning from Representation Perspective", CVPR 2021.
    """
    check_number(
        "soteria",
        "prune_percent",
        prune_percent,
        lo=0.0,
        hi=100.0,
        hi_open=True,
        expected="a percent in [0, 100)",
    )
    check_number(
        "soteria", "representation_offset", representation_offset, lo=0.0, expected="an offset >= 0"
    )
    return Soteria(prune_percent, representation_offset)
