"""``observe``: run one client round and return what the server sees (an Observation)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from leakjax.fl.client import (
    GradFnDefense,
    check_images,
    check_labels,
    client_gradient,
    is_tier1,
)
from leakjax.types import DataSpec, Model, Observation, Params, PRNGKey


def describe_defense(defense: Any) -> str:
    if defense is None:
        return ""
    return str(getattr(defense, "description", None) or type(defense).__name__)


def apply_defense(
    key: PRNGKey, defense: Any, model: Model, params: Params, x: jax.Array, y: jax.Array
):
    """The (defended) batch-mean gradient the client shares, for one batch in model space.

    ``defense`` is ``None``, a tier-1 ``optax.GradientTransformation`` (applied to the gradient
    with a fresh state), or a tier-2 :class:`GradFnDefense` (wraps the gradient function).
    """
    grad_fn = client_gradient(model)
    if defense is None:
        return grad_fn(params, x, y)
    if isinstance(defense, GradFnDefense) and hasattr(defense, "wrap"):
        return defense.wrap(model, grad_fn)(key, params, x, y)
    if is_tier1(defense):
        g = grad_fn(params, x, y)
        updates, _ = defense.update(g, defense.init(params), params)
        return updates
    raise TypeError(
        f"defense={defense!r}: expected None, an optax.GradientTransformation (tier 1) or a "
        "tier-2 defense with a .wrap(model, grad_fn) method"
    )


def observe(
    key: PRNGKey,
    model: Model,
    images: jax.Array,
    labels: jax.Array,
    *,
    spec: DataSpec,
    params: Params | None = None,
    defense: Any = None,
    reveal_labels: bool = False,
) -> Observation:
    """One FedSGD client round: the server's view of a client holding ``(images, labels)``.

    Args:
      key: PRNG key (used by randomized defenses).
      model: the shared model.
      images: float32 NHWC in **[0, 1]**, shape ``(B, *model.input_shape)``.
      labels: integer labels ``(B,)``.
      spec: how images are normalized into the model's input space.
      params: the server's params (defaults to ``model.params``).
      defense: ``None``, a tier-1 optax transform or a tier-2 grad-fn defense.
      reveal_labels: put the true labels into the Observation (threat model "labels given").

    Returns:
      An :class:`Observation` with ``kind="gradient"`` (the batch-mean gradient, defended).
    For multi-step local training use :func:`leakjax.fl.observe_update`.
    """
    images = jnp.asarray(images, jnp.float32)
    labels = jnp.asarray(labels)
    check_images(images, model.input_shape)
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels: shape {labels.shape}, expected ({images.shape[0]},), one integer per image"
        )
    check_labels(labels, model.num_classes)
    params = model.params if params is None else params
    x = spec.normalize(images)
    update = apply_defense(key, defense, model, params, x, labels)
    return Observation(
        update=update,
        params=params,
        labels=labels if reveal_labels else None,
        batch_size=int(images.shape[0]),
        kind="gradient",
        local_steps=1,
        defense=describe_defense(defense),
    )
