"""Analytic (one-shot) recovery of the input of a fully connected first layer with a bias.

Phong et al. 2017; Geiping et al. 2020 (Prop. 1); card 7. For ``y = x W + b`` (Flax kernel
``W`` of shape ``(D, K)``) and any loss downstream, ``dL/dW[:, k] = x * dL/db[k]``, so for B = 1
``x = g_W[:, k] / g_b[k]`` for any unit ``k`` with ``g_b[k] != 0``; no optimization. We use the
unit with the largest ``|g_b[k]|`` (the best conditioned). For a batch the gradient mixes the
samples (``g_W[:, k] = mean_i x_i dL_i/dy_ik``), so each unit gives a weighted average of the
inputs that reach it; for B > 1 :func:`analytic_fc_inversion` returns the B best-conditioned
units' ratios (not exact; the inputs must be matched to ground truth with
:func:`leakjax.metrics.match_batch`).

Threat model: honest-but-curious server, sees one batch gradient (``kind="gradient"``) of a
model whose first layer is a Dense layer with a bias on the flattened input (e.g.
``leakjax.models.mlp``); labels are not needed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from leakjax.attacks.base import Attack
from leakjax.attacks.labels import LABEL_RULES, infer_labels
from leakjax.types import DataSpec, Model, Observation, PyTreePath, get_path


def find_first_dense(model: Model) -> PyTreePath:
    """Path of the first 2-D kernel (with a bias) whose input size is ``prod(input_shape)``, in
    module order (:attr:`leakjax.Model.layer_order`, never the params dict's key order)."""
    d_in = math.prod(model.input_shape)
    found = None
    for path in model.layer_order:
        if path[-1] != "kernel":
            continue
        k = get_path(model.params, path)
        layer = get_path(model.params, path[:-1])
        if jnp.ndim(k) == 2 and "bias" in layer and jnp.shape(k)[0] == d_in:
            found = path
            break
    if found is None:
        raise ValueError(
            f"analytic_fc_inversion: model {model.name!r} has no fully connected layer with a "
            f"bias acting on the flattened input ({d_in} features); the analytic recovery needs "
            "one as its first layer"
        )
    return found


def analytic_fc_inversion(
    model: Model, obs: Observation, *, layer_path: PyTreePath | None = None
) -> jax.Array:
    """Recover the input of the first Dense layer, ``(B, *input_shape)`` in model space.

    Exact for B = 1. ``layer_path`` is the path of that layer's kernel (found automatically).
    """
    if obs.kind != "gradient":
        raise ValueError(
            f"analytic_fc_inversion: obs.kind={obs.kind!r}; the analytic recovery needs a single "
            "gradient (kind='gradient'), not a multi-step delta"
        )
    kpath = tuple(layer_path) if layer_path is not None else find_first_dense(model)
    gw = get_path(obs.update, kpath, what="layer_path")
    gb = get_path(obs.update, (*kpath[:-1], "bias"), what="layer_path bias")
    b = obs.batch_size
    units = jnp.argsort(-jnp.abs(gb))[:b]
    denom = gb[units]
    safe = jnp.where(denom == 0, 1.0, denom)
    x = (gw[:, units] / safe).T
    return x.reshape((b, *model.input_shape))


def analytic_fc(
    model: Model,
    *,
    spec: DataSpec,
    layer_path: PyTreePath | None = None,
    labels: str = "infer",
    label_rule: str = "idlg",
) -> Attack:
    """:func:`analytic_fc_inversion` as an :class:`Attack` (``init`` solves; ``step`` is a no-op).

    The reported loss is 0 (there is no matching loss); labels are ``obs.labels``
    (``labels="given"``) or inferred with ``label_rule``.
    """
    if labels not in ("given", "infer"):
        raise ValueError(f"analytic_fc: labels={labels!r}, expected 'given' or 'infer'")
    if label_rule not in LABEL_RULES:
        raise ValueError(
            f"analytic_fc: label_rule={label_rule!r}, expected one of {sorted(LABEL_RULES)}"
        )
    kpath = tuple(layer_path) if layer_path is not None else find_first_dense(model)

    def target_labels(obs):
        if labels == "given":
            if obs.labels is None:
                raise ValueError("analytic_fc: labels='given' but the observation has no labels")
            return obs.labels.astype(jnp.int32)
        return infer_labels(model, obs.update, rule=label_rule, batch_size=obs.batch_size)

    def init(key, obs):
        del key
        return analytic_fc_inversion(model, obs, layer_path=kpath)

    def step(state, obs):
        return state, jnp.zeros((), jnp.float32)

    def result(state, obs):
        return state, target_labels(obs), jnp.zeros((), jnp.float32)

    return Attack(
        init=init,
        step=step,
        result=result,
        spec=spec,
        tol=-1.0,
        early_stop=False,
        name="analytic_fc",
    )
