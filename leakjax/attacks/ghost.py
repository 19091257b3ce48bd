"""Gradient matching without materializing the classifier's weight gradient ("ghost norm").

For a final dense layer ``logits = h W + b`` (``h``: ``(B, D)`` features, ``W``: ``(D, C)``) the
batch-mean cross-entropy gradient is ``dW = h^T delta`` with ``delta = (softmax(logits) sum(y) -
y) / B`` (``(B, C)``), a sum of ``B`` outer products. Its squared distance to an observed ``T``
needs only ``B x B`` Gram matrices and one product with ``T`` (the identity used for per-example
gradient clipping, "ghost clipping", Li et al. ICLR 2022):

    ||h^T delta - T||^2 = sum((h h^T) * (delta delta^T)) - 2 sum((h T) * delta) + ||T||^2

so the ``D x C`` weight gradient (the LeNet's is 768 x 100: nine tenths of all its gradient
entries) is never formed, neither in the objective nor in its derivative. The other layers'
gradients are the vector-Jacobian product of the model's feature map with ``delta W^T``. The
result equals ``l2_distance(client_gradient(model)(params, x, y), target)`` to float32 rounding
(tested); under ``jax.vmap`` over runs with shared weights the saving is the per-run
``D x C`` tensors that would otherwise be written and read several times per evaluation.

:func:`ghost_l2_distance` returns ``None`` for a model it does not apply to (no
``features_fn``, BatchNorm in train mode, or a classifier whose logits are not
``features @ kernel + bias``, checked numerically once when it is built), and callers then use
the plain formulation.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.types import Model, get_path


def ghost_l2_distance(model: Model) -> Callable | None:
    """``fn(params, x, y, target) -> sum_l ||g_l - target_l||^2`` with ``g`` the client's
    batch-mean cross-entropy gradient (labels ``y``: integer ``(B,)`` or soft ``(B, C)``), or
    ``None`` when the model does not qualify (see the module docstring)."""
    if model.features_fn is None or model.bn_mode == "train":
        return None
    kpath = tuple(model.classifier_kernel_path)
    bpath = tuple(model.classifier_bias_path) if model.classifier_bias_path else None
    if not _is_affine_head(model, kpath, bpath):
        return None
    c = model.num_classes

    def fn(params, x, y, target):
        w = get_path(params, kpath)
        b = get_path(params, bpath) if bpath else 0.0
        h, vjp = jax.vjp(lambda p: model.features_fn(p, x), params)
        logits = h @ w + b
        y_soft = jax.nn.one_hot(y, c, dtype=logits.dtype) if y.ndim == 1 else y
        n = logits.shape[0]
        delta = (jax.nn.softmax(logits, axis=-1) * jnp.sum(y_soft, -1, keepdims=True) - y_soft) / n
        (g_rest,) = vjp(delta @ w.T)
        skip = {kpath} | ({bpath} if bpath else set())
        total = 0.0
        flat_g = jax.tree_util.tree_flatten_with_path(g_rest)[0]
        flat_t = jax.tree_util.tree_flatten_with_path(target)[0]
        for (pg, g), (_, t) in zip(flat_g, flat_t):
            if _path_keys(pg) in skip:
                continue
            total = total + jnp.sum((g - t) ** 2)
        t_w = get_path(target, kpath)
        total = (
            total
            + jnp.sum((h @ h.T) * (delta @ delta.T))
            - 2.0 * jnp.sum((h @ t_w) * delta)
            + jnp.sum(t_w**2)
        )
        if bpath:
            total = total + jnp.sum((jnp.sum(delta, 0) - get_path(target, bpath)) ** 2)
        return total

    return fn


def _path_keys(path) -> tuple:
    return tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in path)


def _is_affine_head(model: Model, kpath, bpath) -> bool:
    """Whether ``apply_fn == features_fn @ kernel + bias`` at a random input (concrete check)."""
    try:
        with jax.ensure_compile_time_eval():  # concrete even when built inside a jit trace
            w = get_path(model.params, kpath)
            b = get_path(model.params, bpath) if bpath else 0.0
            if jnp.ndim(w) != 2:
                return False
            x = jax.random.normal(jax.random.key(0), (2, *model.input_shape), jnp.float32)
            h = model.features_fn(model.params, x)
            lhs = np.asarray(model.apply_fn(model.params, x))
            rhs = np.asarray(h @ w + b)
    except Exception:  # noqa: BLE001 - any failure means: use the plain formulation
        return False
    scale = max(float(np.abs(lhs).max()), 1e-6)
    return lhs.shape == rhs.shape and float(np.abs(lhs - rhs).max()) <= 1e-4 * scale
