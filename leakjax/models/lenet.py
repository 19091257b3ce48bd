"""DLG's sigmoid LeNet (Zhu et al., NeurIPS 2019; used unchanged by iDLG).

conv(C->12, k5, pad 2, stride 2) - sigmoid - conv(12->12, k5, pad 2, stride 2) - sigmoid -
conv(12->12, k5, pad 2, stride 1) - sigmoid - flatten - linear(D -> num_classes), with
D = 768 for 32x32 inputs and 588 for 28x28. All weights **and** biases are drawn from
U(-0.5, 0.5), the wide init DLG relies on. Inputs are NHWC in the model's input space
(raw [0, 1] pixels in DLG/iDLG). The flatten order is (H, W, C), not PyTorch's (C, H, W): a
fixed permutation of the classifier's input axis (``benchmarks/torch_reference.py`` maps
weights between the two).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from leakjax.models.adapters import from_linen
from leakjax.types import Model, PRNGKey


def uniform_init(scale: float = 0.5):
    """U(-scale, scale) initializer (DLG's ``weights_init``)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


class SigmoidLeNet(nn.Module):
    num_classes: int = 100
    width: int = 12
    init_scale: float = 0.5

    @nn.compact
    def __call__(self, x):
        init = uniform_init(self.init_scale)
        for i, stride in enumerate((2, 2, 1)):
            x = nn.Conv(
                self.width,
                (5, 5),
                strides=(stride, stride),
                padding=((2, 2), (2, 2)),
                kernel_init=init,
                bias_init=init,
                name=f"conv{i}",
            )(x)
            x = nn.sigmoid(x)
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes, kernel_init=init, bias_init=init, name="classifier")(x)


def lenet(
    key: PRNGKey,
    *,
    input_shape=(32, 32, 3),
    num_classes: int = 100,
    width: int = 12,
    init_scale: float = 0.5,
) -> Model:
    """DLG's sigmoid LeNet as a :class:`Model` with U(-init_scale, init_scale) weights and biases.

    ``input_shape=(28, 28, 1)`` gives the MNIST variant (hidden size 588); the default
    ``(32, 32, 3)`` gives hidden size 768.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] < 4 or shape[1] < 4:
        raise ValueError(f"lenet: input_shape={input_shape!r}, expected (H, W, C) with H, W >= 4")
    if num_classes < 1:
        raise ValueError(f"lenet: num_classes={num_classes!r}, expected >= 1")
    module = SigmoidLeNet(num_classes=num_classes, width=width, init_scale=init_scale)
    variables = module.init(key, jnp.zeros((1, *shape), jnp.float32))
    return from_linen(module, variables, input_shape=shape, num_classes=num_classes, name="lenet")
