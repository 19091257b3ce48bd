"""DLG's sigmoid LeNet (Zhu et al., NeurIPS 2019; used unchanged by iDLG).

conv(C->12, k5, pad 2, stride 2) - sigmoid - conv(12->12, k5, pad 2, stride 2) - sigmoid -
conv(12->12, k5, pad 2, stride 1) - sigmoid - flatten - linear(D -> num_classes), with
D = 768 for 32x32 inputs and 588 for 28x28. All weights **and** biases are drawn from
U(-0.5, 0.5), the wide init DLG relies on. Inputs are NHWC in the model's input space
(raw [0, 1] pixels in DLG/iDLG). The flatten order is (H, W, C), not PyTorch's (C, H, W): a
fixed permutation of the classifier's input axis (``benchmarks/torch_reference.py`` maps
weights between the two).

The convolutions are computed as im2col + matmul on CPU (``conv_impl="auto"``, see
:mod:`leakjax.models.im2col`: faster there for these tiny strided convolutions and their
second-order derivatives) and by ``lax.conv_general_dilated`` elsewhere; both give the same
values to float32 rounding and the same parameters.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from leakjax.models.adapters import from_linen
from leakjax.models.im2col import (
    backend_default_conv,
    im2col_conv_general_dilated,
    space_to_depth_conv_general_dilated,
)
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
    conv_impl: str = "auto"  # "auto" (im2col on CPU, XLA's convolution elsewhere), "im2col", "xla"

    @nn.compact
    def __call__(self, x):
        init = uniform_init(self.init_scale)
        conv = _conv_fn(self.conv_impl)
        for i, stride in enumerate((2, 2, 1)):
            x = nn.Conv(
                self.width,
                (5, 5),
                strides=(stride, stride),
                padding=((2, 2), (2, 2)),
                kernel_init=init,
                bias_init=init,
                conv_general_dilated=conv,
                name=f"conv{i}",
            )(x)
            x = nn.sigmoid(x)
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes, kernel_init=init, bias_init=init, name="classifier")(x)


CONV_IMPLS = ("auto", "im2col", "s2d", "xla")


def _conv_fn(impl: str):
    if impl == "auto":
        return backend_default_conv()
    if impl == "im2col":
        return im2col_conv_general_dilated
    if impl == "s2d":
        return space_to_depth_conv_general_dilated
    if impl == "xla":
        return jax.lax.conv_general_dilated
    raise ValueError(f"lenet: conv_impl={impl!r}, expected one of {CONV_IMPLS}")


def lenet(
    key: PRNGKey,
    *,
    input_shape=(32, 32, 3),
    num_classes: int = 100,
    width: int = 12,
    init_scale: float = 0.5,
    conv_impl: str = "auto",
) -> Model:
    """DLG's sigmoid LeNet as a :class:`Model` with U(-init_scale, init_scale) weights and biases.

    ``input_shape=(28, 28, 1)`` gives the MNIST variant (hidden size 588); the default
    ``(32, 32, 3)`` gives hidden size 768. ``conv_impl`` chooses how the convolutions are
    computed (``"auto"``: im2col + matmul on CPU, ``lax.conv_general_dilated`` on GPU/TPU;
    ``"im2col"``; ``"xla"``); the parameters and, to float32 rounding, the values are the same.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] < 4 or shape[1] < 4:
        raise ValueError(f"lenet: input_shape={input_shape!r}, expected (H, W, C) with H, W >= 4")
    if num_classes < 1:
        raise ValueError(f"lenet: num_classes={num_classes!r}, expected >= 1")
    if conv_impl not in CONV_IMPLS:
        raise ValueError(f"lenet: conv_impl={conv_impl!r}, expected one of {CONV_IMPLS}")
    module = SigmoidLeNet(
        num_classes=num_classes, width=width, init_scale=init_scale, conv_impl=conv_impl
    )
    variables = module.init(key, jnp.zeros((1, *shape), jnp.float32))
    return from_linen(module, variables, input_shape=shape, num_classes=num_classes, name="lenet")
