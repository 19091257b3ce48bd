"""Geiping's "ConvNet" (Inverting Gradients, Geiping et al., NeurIPS 2020; card 3).

Eight 3x3 conv + BatchNorm + ReLU blocks (conv0-conv7) with channels
``w, 2w, 2w, 4w, 4w, 4w, [maxpool 3], 4w, 4w, [maxpool 3]``, flatten, ``linear(36w -> C)``.
Max pooling is PyTorch's ``MaxPool2d(3)`` (kernel 3, stride 3, no padding): 32 -> 10 -> 3, so the
classifier sees ``3 * 3 * 4w = 36w`` features for 32x32 inputs. (The reference's module dict
lists "conv6" twice, so the real network has 8 convolutions, not 9.) Default width 64
("ConvNet64"). Inputs are NHWC in the model's input space (normalized). The flatten order is
(H, W, C), a fixed permutation of PyTorch's (C, H, W).

BatchNorm follows PyTorch (momentum 0.1 == Flax ``momentum=0.9``, eps 1e-5). The BatchNorm mode
is explicit: ``bn_mode="eval"`` uses the running statistics (IG's setting), ``"train"`` the batch
statistics (GradInversion's setting); running-statistics updates are dropped in both.
"""

from __future__ import annotations

import flax.linen as nn

from leakjax.models.bn import build_bn_model, check_bn_mode
from leakjax.models.canonical_conv import canonical_conv_general_dilated
from leakjax.types import Model, PRNGKey


def conv_bn_relu(x, features: int, train: bool, name: str):
    x = nn.Conv(
        features,
        (3, 3),
        padding=((1, 1), (1, 1)),
        conv_general_dilated=canonical_conv_general_dilated,
        name=f"conv{name}",
    )(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"bn{name}")(x)
    return nn.relu(x)


class ConvNet(nn.Module):
    """Geiping's ConvNet; ``__call__(x, train=False)``."""

    width: int = 64
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        w = self.width
        for i, c in enumerate((w, 2 * w, 2 * w, 4 * w, 4 * w, 4 * w)):
            x = conv_bn_relu(x, c, train, str(i))
        x = nn.max_pool(x, (3, 3), strides=(3, 3), padding="VALID")
        for i in (6, 7):
            x = conv_bn_relu(x, 4 * w, train, str(i))
        x = nn.max_pool(x, (3, 3), strides=(3, 3), padding="VALID")
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes, name="classifier")(x)


def convnet(
    key: PRNGKey,
    *,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    width: int = 64,
    bn_mode: str = "eval",
    init: str = "torch",
) -> Model:
    """Geiping's ConvNet as a :class:`Model` (zero-mean unit-variance BN running statistics).

    Args:
      key: PRNG key for the initialization.
      input_shape: ``(H, W, C)``; 32x32 gives the reference's ``36 * width`` classifier input.
      num_classes: number of classes.
      width: the width multiplier ``w`` (64 = "ConvNet64").
      bn_mode: ``"eval"`` (running statistics, IG) or ``"train"`` (batch statistics).
      init: ``"torch"`` (PyTorch's ``nn.Conv2d``/``nn.Linear`` defaults, as the reference's
        untrained ConvNet; :mod:`leakjax.models.init`) or ``"flax"`` (Flax's LeCun-normal
        kernels and zero biases).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] < 9 or shape[1] < 9:
        raise ValueError(f"convnet: input_shape={input_shape!r}, expected (H, W, C) with H, W >= 9")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"convnet: width={width!r}, expected a positive integer")
    if num_classes < 1:
        raise ValueError(f"convnet: num_classes={num_classes!r}, expected >= 1")
    check_bn_mode("convnet", bn_mode)
    module = ConvNet(width=width, num_classes=num_classes)
    return build_bn_model(key, module, shape, num_classes, bn_mode, f"convnet{width}", init=init)
