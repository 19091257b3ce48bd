"""The client: its loss, its gradient, and what it sends.

One definition serves the real client producing an update, the attacker simulating that client
inside its objective, and the FedAvg utility simulation.

Loss convention (card 0.1 of the algorithm cards): **batch-mean** cross-entropy, as every
reference computes it (PyTorch ``CrossEntropyLoss(reduction='mean')``). Labels are integer class
ids ``(B,)`` or soft labels ``(B, C)`` (probabilities); both give the same gradient for one-hot
soft labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import optax

from leakjax.types import Array, Grads, Model, Params, PRNGKey

GradFn = Callable[[Params, Array, Array], Grads]
"""``grad_fn(params, x, y) -> grads``: batch-mean gradient at inputs ``x`` (model space)."""

KeyedGradFn = Callable[[PRNGKey, Params, Array, Array], Grads]
"""``grad_fn(key, params, x, y) -> grads``: a client gradient that may use randomness."""


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Batch-mean cross-entropy for integer labels ``(B,)`` or soft labels ``(B, C)``."""
    if labels.ndim == logits.ndim:
        return jnp.mean(optax.softmax_cross_entropy(logits, labels))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def loss_fn(model: Model) -> Callable[[Params, Array, Array], Array]:
    """``loss(params, x, y)``: the client's batch-mean CE for ``model``."""

    def loss(params, x, y):
        return cross_entropy(model.apply_fn(params, x), y)

    return loss


def client_gradient(model: Model) -> GradFn:
    """The client's gradient function ``grad_fn(params, x, y)`` (batch-mean CE).

    Attacks differentiate *through* this function with respect to ``x`` (second-order autodiff),
    so it must stay a plain ``jax.grad`` with no stop-gradients.
    """
    return jax.grad(loss_fn(model))


def per_example_gradients(model: Model) -> Callable[[Params, Array, Array], Grads]:
    """``fn(params, x, y)`` -> per-example gradients with a leading batch axis (``vmap(grad)``)."""
    g = jax.grad(loss_fn(model))

    def fn(params, x, y):
        return jax.vmap(lambda xi, yi: g(params, xi[None], yi[None]))(x, y)

    return fn


@runtime_checkable
class GradFnDefense(Protocol):
    """A tier-2 defense: it needs the model, the batch or per-example gradients.

    It transforms the client's gradient function (as ``jax_privacy.clipped_grad`` does) and is
    used *instead of* a tier-1 ``optax.GradientTransformation`` on the shared update.
    """

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:  # pragma: no cover
        ...


def is_tier1(defense: Any) -> bool:
    return isinstance(defense, optax.GradientTransformation)


def check_labels(labels: Array, num_classes: int, *, name: str = "labels") -> None:
    """Raise a clear ValueError for concrete labels outside ``[0, num_classes)``."""
    try:
        lo, hi = int(jnp.min(labels)), int(jnp.max(labels))
    except jax.errors.ConcretizationTypeError:
        return  # traced: cannot check values
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{name}: value {bad} is out of range; expected integer class ids in "
            f"[0, {num_classes}) for a model with {num_classes} classes"
        )


def check_images(images: Array, input_shape, *, name: str = "images") -> None:
    """Raise a clear ValueError when ``images`` is not ``(B, *input_shape)``."""
    shape = tuple(jnp.shape(images))
    if len(shape) != 4 or shape[1:] != tuple(input_shape):
        raise ValueError(
            f"{name}: shape {shape}, expected (B, {', '.join(map(str, input_shape))}) "
            "float32 NHWC images in [0, 1] for this model"
        )
