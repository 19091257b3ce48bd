"""Label inference from the classifier layer's gradient (card 2 and card 6 of the algorithm cards).

The gradient of batch-mean CE with respect to the logits is ``(p - y) / B``. The classifier bias
gradient is therefore negative only at classes present in the batch (B = 1: exactly at the true
class), and the kernel gradient's column for class c is ``sum_i (p_ic - y_ic) h_i / B``, whose
entries are all <= 0 for the true class when the features ``h`` are non-negative.

Flax kernels are ``(D, C)`` (inputs, classes), so the reference's "row sum over dim=-1" of the
PyTorch ``(C, D)`` weight is a sum over **axis 0** here.
"""

from __future__ import annotations

import jax.numpy as jnp

from leakjax.types import Grads, Model


def idlg_label(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """iDLG's analytic label for B = 1, shape ``(1,)``.

    Uses the bias rule ``argmin_c g_bias[c]`` when the classifier has a bias, else the weight
    rule ``argmin_c sum_d g_W[d, c]`` (which needs non-negative penultimate features).
    """
    bias = model.classifier_bias(update)
    if bias is not None:
        return jnp.argmin(bias)[None].astype(jnp.int32)
    kernel = model.classifier_kernel(update)
    return jnp.argmin(jnp.sum(kernel, axis=0))[None].astype(jnp.int32)


def idlg_weight_label(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """iDLG's weight-row rule only (``argmin_c sum_d g_W[d, c]``), shape ``(1,)``."""
    kernel = model.classifier_kernel(update)
    return jnp.argmin(jnp.sum(kernel, axis=0))[None].astype(jnp.int32)


LABEL_RULES = {"idlg": idlg_label, "idlg_weight": idlg_weight_label}
"""Rule name -> ``rule(model, update, batch_size) -> (batch_size,) int32 labels``."""


def infer_labels(model: Model, update: Grads, *, rule: str = "idlg", batch_size: int = 1):
    """Infer ``(batch_size,)`` labels from ``update`` with the named rule."""
    if rule not in LABEL_RULES:
        raise ValueError(f"label rule={rule!r} is unknown; expected one of {sorted(LABEL_RULES)}")
    if rule.startswith("idlg") and batch_size != 1:
        raise ValueError(
            f"label rule={rule!r} is exact only for batch_size=1, got batch_size={batch_size}; "
            "give the labels or choose a batch rule"
        )
    return LABEL_RULES[rule](model, update, batch_size=batch_size)
