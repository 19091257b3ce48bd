"""A small multilayer perceptron classifier (flatten - [Dense - activation] * k - Dense)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from leakjax.models.adapters import from_linen
from leakjax.types import Model, PRNGKey

ACTIVATIONS = {"sigmoid": nn.sigmoid, "relu": nn.relu, "tanh": jnp.tanh, "gelu": nn.gelu}


class MLP(nn.Module):
    hidden: Sequence[int] = (128,)
    num_classes: int = 10
    activation: str = "sigmoid"

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        x = x.reshape(x.shape[0], -1)
        for i, h in enumerate(self.hidden):
            x = act(nn.Dense(h, name=f"dense{i}")(x))
        return nn.Dense(self.num_classes, name="classifier")(x)


def mlp(
    key: PRNGKey,
    *,
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    hidden: Sequence[int] = (128,),
    activation: str = "sigmoid",
) -> Model:
    """An MLP :class:`Model` (Flax default init). ``hidden=()`` gives a linear classifier."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: activation={activation!r}, expected one of {sorted(ACTIVATIONS)}")
    shape = tuple(int(s) for s in input_shape)
    module = MLP(hidden=tuple(hidden), num_classes=num_classes, activation=activation)
    variables = module.init(key, jnp.zeros((1, *shape), jnp.float32))
    return from_linen(module, variables, input_shape=shape, num_classes=num_classes, name="mlp")
