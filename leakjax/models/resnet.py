"""CIFAR-style ResNets with BatchNorm (He et al., CVPR 2016), as used by Inverting Gradients.

* :func:`resnet20` family (``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``; depth 6n+2):
  a 3x3 stem conv of ``16 * width`` channels, three stages of ``n`` basic blocks with
  ``16w, 32w, 64w`` channels and strides 1, 2, 2, global average pooling, linear. Geiping et
  al. attack "ResNet-20-4" (``width=4``) and "ResNet32-10" (``depth=32, width=10``).
* :func:`resnet18`: the CIFAR variant of ResNet-18 (3x3 stem of 64 channels, no max pool, four
  stages of two basic blocks with 64, 128, 256, 512 channels and strides 1, 2, 2, 2, average
  pooling, linear), scaled by ``width / 1``.

Shortcuts are identity, or a 1x1 strided conv + BatchNorm when the shape changes ("option B").
Convolutions have no bias (BatchNorm follows them). BatchNorm: PyTorch momentum 0.1 (Flax 0.9),
eps 1e-5; ``bn_mode`` is explicit ("eval": running statistics, "train": batch statistics). The
penultimate features are a ReLU followed by an average, hence non-negative, which the weight-based
label rules rely on.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from leakjax.models.bn import build_bn_model, check_bn_mode
from leakjax.models.canonical_conv import canonical_conv_general_dilated
from leakjax.types import Model, PRNGKey


def _bn(train: bool, name: str):
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


# stride-1 convolutions whose derivatives stay fast inside XLA:CPU loops (canonical_conv.py)
Conv = functools.partial(nn.Conv, conv_general_dilated=canonical_conv_general_dilated)


class BasicBlock(nn.Module):
    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        s = (self.stride, self.stride)
        y = Conv(self.features, (3, 3), s, padding=((1, 1), (1, 1)), use_bias=False, name="conv1")(
            x
        )
        y = nn.relu(_bn(train, "bn1")(y))
        y = Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="conv2")(y)
        y = _bn(train, "bn2")(y)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = Conv(self.features, (1, 1), s, use_bias=False, name="shortcut_conv")(x)
            x = _bn(train, "shortcut_bn")(x)
        return nn.relu(x + y)


class CifarResNet(nn.Module):
    """A CIFAR ResNet of basic blocks; ``__call__(x, train=False)``."""

    stage_sizes: Sequence[int] = (3, 3, 3)
    stage_features: Sequence[int] = (16, 32, 64)
    stem_features: int = 16
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = Conv(
            self.stem_features, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="stem_conv"
        )(x)
        x = nn.relu(_bn(train, "stem_bn")(x))
        for i, (n, f) in enumerate(zip(self.stage_sizes, self.stage_features)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                x = BasicBlock(f, stride, name=f"stage{i}_block{j}")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="classifier")(x)


def _check(fn, input_shape, num_classes, width, bn_mode):
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{fn}: input_shape={input_shape!r}, expected (H, W, C)")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"{fn}: width={width!r}, expected a positive integer")
    if num_classes < 1:
        raise ValueError(f"{fn}: num_classes={num_classes!r}, expected >= 1")
    check_bn_mode(fn, bn_mode)
    return shape


def _build(key, module, shape, num_classes, bn_mode, name, init) -> Model:
    # torchvision's ResNet init: Kaiming-normal fan-out convolutions, nn.Linear's classifier
    return build_bn_model(
        key, module, shape, num_classes, bn_mode, name, init=init, conv_rule="kaiming_fan_out"
    )


def resnet20(
    key: PRNGKey,
    *,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    depth: int = 20,
    width: int = 1,
    bn_mode: str = "eval",
    init: str = "torch",
) -> Model:
    """CIFAR ResNet of depth ``6n + 2`` (20, 32, 44, 56, 110) with width multiplier ``width``.

    ``width=4`` gives Geiping et al.'s "ResNet-20-4"; ``depth=32, width=10`` "ResNet32-10".
    ``init="torch"``: torchvision's ResNet init (convolutions ``kaiming_normal_`` fan-out,
    classifier ``nn.Linear``'s default); ``"flax"``: Flax's defaults.
    """
    shape = _check("resnet20", input_shape, num_classes, width, bn_mode)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet20: depth={depth!r}, expected 6n + 2 (20, 32, 44, 56, ...)")
    n = (depth - 2) // 6
    module = CifarResNet(
        stage_sizes=(n, n, n),
        stage_features=(16 * width, 32 * width, 64 * width),
        stem_features=16 * width,
        num_classes=num_classes,
    )
    return _build(key, module, shape, num_classes, bn_mode, f"resnet{depth}-{width}", init)


def resnet18(
    key: PRNGKey,
    *,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    width: int = 1,
    bn_mode: str = "eval",
    init: str = "torch",
) -> Model:
    """ResNet-18, CIFAR variant (3x3 stem, no max pool); ``width`` scales 64-128-256-512.

    ``init`` as in :func:`resnet20`.
    """
    shape = _check("resnet18", input_shape, num_classes, width, bn_mode)
    module = CifarResNet(
        stage_sizes=(2, 2, 2, 2),
        stage_features=(64 * width, 128 * width, 256 * width, 512 * width),
        stem_features=64 * width,
        num_classes=num_classes,
    )
    name = "resnet18" if width == 1 else f"resnet18-{width}"
    return _build(key, module, shape, num_classes, bn_mode, name, init)
