"""PyTorch's parameter initializations for the zoo, so untrained models match the references.

The attack references (inversefed / breaching for Inverting Gradients, GradInversion) build
their models in PyTorch, and an *untrained* model is only the same model if its random
initialization follows the same distribution. Flax's defaults differ (LeCun-normal kernels,
zero biases), and that changes what leaks: with zero biases and identity BatchNorm the ConvNet is
positively homogeneous in its input, which makes the gradient direction nearly blind to the
image's contrast. On the untrained ConvNet-32, IG gains about 3 dB at 500 steps with PyTorch's
init (benchmarks/README.md, "IG vs DLG fidelity").

``init="torch"`` reproduces, per layer type:

* ``nn.Conv2d`` / ``nn.Linear`` (PyTorch's ``reset_parameters``): kernel
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_(a=sqrt(5))``) and, where the layer
  has a bias, the bias from the same ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
  ``fan_in = kh * kw * in_channels`` (or ``in_features``).
* ResNet convolutions (torchvision's ``ResNet.__init__``, copied by inversefed and breaching):
  ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, i.e. ``N(0, 2 / fan_out)`` with
  ``fan_out = kh * kw * out_channels``; the classifier keeps the ``nn.Linear`` rule.
* BatchNorm: scale 1, bias 0 (the same in both frameworks; left as Flax made them).

Only the distributions match PyTorch, not its random stream: the draws come from JAX keys.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax.traverse_util import flatten_dict, unflatten_dict

from leakjax.types import Params, PRNGKey

INITS = ("torch", "flax")
CONV_RULES = ("default", "kaiming_fan_out")


def check_init(fn: str, init) -> None:
    if init not in INITS:
        raise ValueError(f"{fn}: init={init!r}, expected one of {INITS}")


def torch_init(params: Params, key: PRNGKey, *, conv_rule: str = "default") -> Params:
    """Redraw every kernel (and its layer's bias) of a Linen ``params`` tree as PyTorch would.

    A *layer* is a dict holding a ``kernel`` (Conv: ``(kh, kw, in, out)``, Dense: ``(in, out)``)
    and optionally a ``bias``; dicts without a kernel (BatchNorm's ``scale``/``bias``) are kept.

    Args:
      params: Flax ``params`` collection.
      key: PRNG key; each layer gets ``fold_in(key, i)`` in sorted-path order.
      conv_rule: ``"default"`` (``nn.Conv2d.reset_parameters``) or ``"kaiming_fan_out"``
        (torchvision ResNets) for 4-D kernels; 2-D kernels always use the ``nn.Linear`` rule.

    Returns:
      A params tree with the same structure, shapes and dtypes.
    """
    if conv_rule not in CONV_RULES:
        raise ValueError(f"torch_init: conv_rule={conv_rule!r}, expected one of {CONV_RULES}")
    flat = flatten_dict(params)
    layers = sorted({path[:-1] for path in flat if path[-1] == "kernel"})
    out = dict(flat)
    for i, layer in enumerate(layers):
        kernel = flat[layer + ("kernel",)]
        k_w, k_b = jax.random.split(jax.random.fold_in(key, i))
        fan_in = math.prod(kernel.shape[:-1])
        bound = 1.0 / math.sqrt(fan_in)
        if kernel.ndim == 4 and conv_rule == "kaiming_fan_out":
            fan_out = math.prod(kernel.shape[:2]) * kernel.shape[-1]
            std = math.sqrt(2.0 / fan_out)
            new_kernel = std * jax.random.normal(k_w, kernel.shape, kernel.dtype)
        else:
            new_kernel = jax.random.uniform(k_w, kernel.shape, kernel.dtype, -bound, bound)
        out[layer + ("kernel",)] = new_kernel
        if layer + ("bias",) in flat:
            b = flat[layer + ("bias",)]
            out[layer + ("bias",)] = jax.random.uniform(k_b, b.shape, b.dtype, -bound, bound)
    return jax.tree.map(jnp.asarray, unflatten_dict(out))
