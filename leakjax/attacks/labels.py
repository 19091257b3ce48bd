"""Label inference from the classifier layer's gradient (card 2 and card 6 of the algorithm cards).

The gradient of batch-mean CE with respect to the logits is ``(p - y) / B``. The classifier bias
gradient is therefore negative only at classes present in the batch (B = 1: exactly at the true
class), and the kernel gradient's column for class c is ``sum_i (p_ic - y_ic) h_i / B``, whose
entries are all <= 0 for the true class when the features ``h`` are non-negative.

Flax kernels are ``(D, C)`` (inputs, classes), so the reference's "row sum over dim=-1" of the
PyTorch ``(C, D)`` weight is a sum over **axis 0** here.
"""

from __future__ import annotations

import jax
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


# --------------------------------------------------------------------------------------------
# Batch rules (card 6). Write G = the classifier kernel gradient as (D, C) (Flax layout) and
# beta = the bias gradient (C,). With the batch-mean CE, beta_c = mean_i (p_ic - y_ic) and
# G[:, c] = mean_i (p_ic - y_ic) h_i. Every rule returns exactly ``batch_size`` labels (static
# shape), as a multiset: compare with :func:`leakjax.metrics.label_accuracy`.
# --------------------------------------------------------------------------------------------


def _bias_or_raise(model: Model, update: Grads, rule: str) -> jnp.ndarray:
    bias = model.classifier_bias(update)
    if bias is None:
        raise ValueError(
            f"label rule {rule!r} needs a classifier bias, but model {model.name!r} has none; "
            "choose 'yin' or 'llg' (weight-based rules)"
        )
    return bias


def _fill_from_negatives(values: jnp.ndarray, batch_size: int) -> jnp.ndarray:
    """Classes with ``values < 0`` (most negative first); when fewer than B, repeat them."""
    order = jnp.argsort(values)
    num_neg = jnp.maximum(jnp.sum(values < 0), 1)
    slots = jnp.arange(batch_size)
    pick = jnp.where(slots < num_neg, slots, (slots - num_neg) % num_neg)
    return order[pick].astype(jnp.int32)


def bias_sign_labels(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """Bias-sign rule (breaching "analytic"): the classes with a negative bias gradient.

    Exact for distinct labels unless the model is very confident. With fewer than B negative
    entries the negative classes are repeated (most negative first); with more, the B most
    negative are kept.
    """
    return _fill_from_negatives(_bias_or_raise(model, update, "bias_sign"), batch_size)


def yin_labels(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """GradInversion's rule (Yin et al. CVPR 2021): the B classes with the most negative
    ``min_d G[d, c]``. Needs non-negative penultimate features and distinct labels."""
    kernel = model.classifier_kernel(update)
    return jnp.argsort(jnp.min(kernel, axis=0))[:batch_size].astype(jnp.int32)


def _two_stage(values: jnp.ndarray, impact: jnp.ndarray, batch_size: int) -> jnp.ndarray:
    """LLG's two stages on per-class ``values`` (card 6), the paper's version.

    Stage 1: every class with a negative value is in the batch (the B most negative when there
    are more than B): add it once and subtract ``impact`` from its value. Stage 2: until B labels
    are chosen, add ``argmin_c values_c`` and subtract ``impact`` from **that** class.
    """
    order = jnp.argsort(values)
    num_neg = jnp.sum(values < 0)

    def body(vals, j):
        c = jnp.where(j < num_neg, order[j], jnp.argmin(vals))
        return vals.at[c].add(-impact), c

    _, labels = jax.lax.scan(body, values, jnp.arange(batch_size))
    return labels.astype(jnp.int32)


def llg_labels(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """LLG (Wainakh et al., PoPETs 2022), simple variant, on the kernel's per-class sums.

    ``s_c = sum_d G[d, c]``, impact ``m = (sum_{c: s_c < 0} s_c) (1 + 1/C) / B`` (negative, so
    subtracting it raises ``s_c``), then the two stages of :func:`_two_stage`. Breaching's
    stage-2 loop subtracts the impact from a stale index; this follows the paper (the selected
    class). Handles repeated labels.
    """
    kernel = model.classifier_kernel(update)
    s = jnp.sum(kernel, axis=0)
    c = s.shape[0]
    impact = jnp.sum(jnp.where(s < 0, s, 0.0)) * (1.0 + 1.0 / c) / batch_size
    return _two_stage(s, impact, batch_size)


def bias_corrected_labels(model: Model, update: Grads, batch_size: int = 1) -> jnp.ndarray:
    """Breaching's "bias-corrected" rule: LLG's two stages on the bias gradient with impact
    ``m = sum_{c: beta_c < 0} beta_c / B``. Handles repeated labels."""
    beta = _bias_or_raise(model, update, "bias_corrected")
    impact = jnp.sum(jnp.where(beta < 0, beta, 0.0)) / batch_size
    return _two_stage(beta, impact, batch_size)


LABEL_RULES = {
    "idlg": idlg_label,
    "idlg_weight": idlg_weight_label,
    "bias_sign": bias_sign_labels,
    "analytic": bias_sign_labels,
    "yin": yin_labels,
    "llg": llg_labels,
    "bias_corrected": bias_corrected_labels,
}
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
