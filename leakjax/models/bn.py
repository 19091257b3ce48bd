"""BatchNorm helpers for the zoo: explicit modes and the statistics GradInversion's prior needs.

:func:`attach_bn_statistics` adds ``model.extra["bn_stats_fn"]`` to a Linen-built Model:
``bn_stats_fn(params, x) -> [(batch_mean, batch_var, running_mean, running_var), ...]``, one entry
per BatchNorm layer in call order. ``batch_mean``/``batch_var`` are the per-channel mean and
biased variance of that layer's *input* over all axes but the last (N, H, W), computed from the
dummy batch ``x``; the running statistics are the ones the Model was built with. The inputs are
captured with ``flax.linen.intercept_methods`` on every ``nn.BatchNorm`` call, so it works for any
Linen module whose normalization layers are ``nn.BatchNorm``.
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from leakjax.types import Model

BN_MODES = ("eval", "train")


def check_bn_mode(fn: str, bn_mode) -> None:
    if bn_mode not in BN_MODES:
        raise ValueError(f"{fn}: bn_mode={bn_mode!r}, expected one of {BN_MODES}")


def attach_bn_statistics(
    model: Model, module: nn.Module, variables: Mapping, *, train_kwarg: str | None = "train"
) -> Model:
    """Return ``model`` with ``extra["bn_stats_fn"]`` (see the module docstring)."""
    rest = {k: v for k, v in variables.items() if k != "params"}
    kwargs = {} if train_kwarg is None else {train_kwarg: model.bn_mode == "train"}
    mutable = ["batch_stats"] if model.bn_mode == "train" else False

    def bn_stats_fn(params, x):
        captured = []

        def interceptor(next_fun, args, kw, context):
            if isinstance(context.module, nn.BatchNorm) and context.method_name == "__call__":
                h = args[0]
                axes = tuple(range(h.ndim - 1))
                mu = jnp.mean(h, axis=axes)
                var = jnp.mean(jnp.square(h - mu), axis=axes)
                run_mu = context.module.get_variable("batch_stats", "mean")
                run_var = context.module.get_variable("batch_stats", "var")
                captured.append((mu, var, run_mu, run_var))
            return next_fun(*args, **kw)

        with nn.intercept_methods(interceptor):
            module.apply({"params": params, **rest}, x, mutable=mutable, **kwargs)
        return captured

    return model.replace(extra={**model.extra, "bn_stats_fn": bn_stats_fn})


def build_bn_model(
    key,
    module: nn.Module,
    shape,
    num_classes: int,
    bn_mode: str,
    name: str,
    *,
    init: str = "torch",
    conv_rule: str = "default",
) -> Model:
    """Initialise a Linen classifier with BatchNorm (``train`` kwarg, ``classifier`` head) and
    wrap it as a :class:`Model` with ``bn_stats_fn`` attached (shared by the ConvNet and ResNets).

    ``init="torch"`` redraws the weights with PyTorch's rules (:func:`leakjax.models.init.
    torch_init` with ``conv_rule``); ``"flax"`` keeps Flax's defaults.
    """
    from leakjax.models.adapters import from_linen
    from leakjax.models.init import check_init, torch_init

    check_init(name, init)
    variables = module.init(key, jnp.zeros((1, *shape), jnp.float32))
    if init == "torch":
        params = torch_init(variables["params"], jax.random.fold_in(key, 1), conv_rule=conv_rule)
        variables = {**variables, "params": params}
    model = from_linen(
        module,
        variables,
        input_shape=shape,
        num_classes=num_classes,
        classifier_path=("classifier", "kernel"),
        bn_mode=bn_mode,
        train_kwarg="train",
        name=name,
    )
    return attach_bn_statistics(model, module, variables, train_kwarg="train")
