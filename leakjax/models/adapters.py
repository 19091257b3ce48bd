"""Adapters that reduce Flax Linen / NNX modules (or any function) to a pure :class:`Model`.

The Model's ``apply_fn(params, x)`` is pure: no module object crosses a jit boundary. Non-trainable
collections (BatchNorm ``batch_stats``) are closed over; in ``bn_mode="train"`` BatchNorm uses
the batch statistics and the updated running statistics are dropped (the attacker and the client
see the same function either way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from leakjax.types import Model, PyTreePath

_CLASSIFIER_NAMES = ("classifier", "fc", "head", "logits", "output", "out")


def find_classifier_path(params: Mapping, num_classes: int, layer_order=None) -> PyTreePath:
    """Find the classifier kernel by name, then by shape: the last 2-D kernel with C outputs in
    module order (``layer_order``; the params' insertion order when omitted), never in sorted
    key order."""
    from leakjax.types import get_path, insertion_order

    for name in _CLASSIFIER_NAMES:
        if name in params and "kernel" in params[name]:
            return (name, "kernel")
    found: PyTreePath | None = None
    order = insertion_order(params) if layer_order is None else [tuple(p) for p in layer_order]
    for keys in order:
        leaf = get_path(params, keys)
        if keys[-1] == "kernel" and jnp.ndim(leaf) == 2 and jnp.shape(leaf)[1] == num_classes:
            found = keys
    if found is None:
        raise ValueError(
            "could not find the classifier layer: name it with classifier_path=('name', 'kernel'); "
            f"looked for modules named {_CLASSIFIER_NAMES} and for a 2-D kernel with "
            f"{num_classes} outputs"
        )
    return found


def _bias_path(params: Mapping, kernel_path: PyTreePath) -> PyTreePath | None:
    node = params
    for k in kernel_path[:-1]:
        node = node[k]
    return (*kernel_path[:-1], "bias") if "bias" in node else None


def linen_layer_order(module: nn.Module, variables: Mapping, input_shape, **kwargs) -> list:
    """Parameter paths in **module order**, from a traced forward pass (no FLOPs run).

    Every submodule call is intercepted; a module's parameters are listed when it is first
    called (the order the layers run, which is PyTorch's parameter order for the zoo), kernel /
    scale / embedding before bias. Parameters of modules never called (unused layers) follow in
    insertion order.
    """
    params = variables["params"]
    calls: list[tuple] = []

    def interceptor(next_fun, args, kw, context):
        path = tuple(context.module.path)
        if path not in calls:
            calls.append(path)
        return next_fun(*args, **kw)

    x = jax.ShapeDtypeStruct((1, *tuple(input_shape)), jnp.float32)
    mutable = ["batch_stats"] if "batch_stats" in variables else False
    with nn.intercept_methods(interceptor):
        jax.eval_shape(lambda v, xx: module.apply(v, xx, mutable=mutable, **kwargs), variables, x)
    return order_from_module_calls(params, calls)


def order_from_module_calls(params: Mapping, calls: list[tuple]) -> list:
    """Leaf paths of ``params`` grouped by the first call of the module that owns them."""
    from leakjax.types import insertion_order

    leaves = insertion_order(params)
    rank = {c: i for i, c in enumerate(calls)}

    def owner_rank(path):
        for cut in range(len(path) - 1, -1, -1):
            if path[:cut] in rank:
                return rank[path[:cut]]
        return len(rank)

    return [p for _, _, p in sorted((owner_rank(p), i, p) for i, p in enumerate(leaves))]


def from_fn(
    apply_fn: Callable,
    params: Any,
    *,
    input_shape,
    num_classes: int,
    classifier_path: PyTreePath | None = None,
    features_fn: Callable | None = None,
    bn_mode: str = "none",
    name: str = "model",
    layer_order=None,
) -> Model:
    """Identity adapter: any pure ``apply_fn(params, x) -> logits`` (Equinox, Haiku, by hand).

    ``layer_order``: every parameter path in module order (see :class:`Model`); ``None`` uses
    the params' dict insertion order.
    """
    kpath = (
        tuple(classifier_path)
        if classifier_path
        else find_classifier_path(params, num_classes, layer_order)
    )
    return Model(
        apply_fn=apply_fn,
        params=params,
        input_shape=tuple(input_shape),
        num_classes=int(num_classes),
        classifier_kernel_path=kpath,
        classifier_bias_path=_bias_path(params, kpath),
        features_fn=features_fn,
        bn_mode=bn_mode,
        name=name,
        layer_order=None if layer_order is None else tuple(tuple(p) for p in layer_order),
    )


def from_linen(
    module: nn.Module,
    variables: Mapping,
    *,
    input_shape,
    num_classes: int,
    classifier_path: PyTreePath | None = None,
    bn_mode: str | None = None,
    train_kwarg: str | None = None,
    name: str | None = None,
) -> Model:
    """Build a Model from a Linen module and its variables.

    Args:
      module: the Linen module; its ``__call__(x, ...)`` returns logits.
      variables: ``{'params': ..., 'batch_stats': ...}`` as returned by ``module.init``.
      input_shape: ``(H, W, C)``.
      num_classes: number of logits.
      classifier_path: path of the classifier kernel in ``variables['params']``; found by name
        ('classifier', 'fc', 'head', ...) or by shape when omitted.
      bn_mode: ``"eval"`` (running statistics) or ``"train"`` (batch statistics) when the module
        has ``batch_stats``; defaults to ``"eval"`` then, ``"none"`` otherwise.
      train_kwarg: name of the module's boolean train flag (e.g. ``"train"``), passed as
        ``bn_mode == "train"``; omit when the module has none.
    The features entering the classifier layer are captured with ``nn.intercept_methods``, so
    ``Model.features_fn`` works for any module whose classifier is a named submodule.
    """
    if "params" not in variables:
        raise ValueError(
            f"from_linen: variables has keys {list(variables)}, expected a 'params' collection"
        )
    params = variables["params"]
    rest = {k: v for k, v in variables.items() if k != "params"}
    has_bn = "batch_stats" in rest
    if bn_mode is None:
        bn_mode = "eval" if has_bn else "none"
    kwargs = {} if train_kwarg is None else {train_kwarg: bn_mode == "train"}
    mutable = ["batch_stats"] if (has_bn and bn_mode == "train") else False

    def apply_fn(p, x):
        out = module.apply({"params": p, **rest}, x, mutable=mutable, **kwargs)
        return out[0] if mutable else out

    order = linen_layer_order(module, variables, input_shape, **kwargs)
    kpath = (
        tuple(classifier_path)
        if classifier_path
        else find_classifier_path(params, num_classes, order)
    )
    classifier_name = kpath[-2] if len(kpath) >= 2 else None

    def features_fn(p, x):
        captured = {}

        def interceptor(next_fun, args, kw, context):
            if context.module.name == classifier_name and context.method_name == "__call__":
                captured["h"] = args[0]
            return next_fun(*args, **kw)

        with nn.intercept_methods(interceptor):
            apply_fn(p, x)
        if "h" not in captured:
            raise ValueError(
                f"from_linen: classifier module {classifier_name!r} was never called; "
                "pass classifier_path"
            )
        h = captured["h"]
        return h.reshape(h.shape[0], -1)

    model = from_fn(
        apply_fn,
        params,
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_path=kpath,
        features_fn=features_fn,
        bn_mode=bn_mode,
        name=name or type(module).__name__.lower(),
        layer_order=order,
    )
    return model.replace(extra={"variables_rest": rest})


def nnx_layer_order(model, params: Mapping) -> list | None:
    """Parameter paths of an NNX module in attribute-definition order (the order ``__init__``
    created the layers, kernel before bias), or ``None`` if they cannot be matched."""
    from flax import nnx

    from leakjax.types import insertion_order

    out: list[tuple] = []

    def walk(node, path):
        items = (
            list(enumerate(node))
            if isinstance(node, list | tuple)
            else list(vars(node).items())
            if isinstance(node, nnx.Module)
            else list(node.items())
            if isinstance(node, Mapping)
            else []
        )
        weights_first = sorted(items, key=lambda kv: 1 if kv[0] == "bias" else 0)
        for k, v in weights_first:
            if isinstance(v, nnx.Param):
                out.append((*path, k))
            elif isinstance(v, nnx.Module | list | tuple | Mapping):
                walk(v, (*path, k))

    walk(model, ())
    have = {tuple(p) for p in insertion_order(params)}
    return out if (len(out) == len(have) and set(out) == have) else None


def _nnx_get(node, key):
    return node[key] if isinstance(key, int) else getattr(node, key)


def from_nnx(
    model,
    *,
    input_shape,
    num_classes: int,
    classifier_path: PyTreePath | None = None,
    name: str | None = None,
) -> Model:
    """Build a Model from an NNX module: ``nnx.split`` once here, ``nnx.merge`` inside ``apply_fn``.

    The params are a plain nested dict of arrays (``nnx.to_pure_dict``), so paths and gradients
    look the same as for Linen models. Non-Param state (BatchNorm statistics, RNG counters) is
    closed over and not updated. Put the module in the mode you want (``model.eval()`` /
    ``model.train()``) before adapting it. The layer order is the modules' attribute-definition
    order; ``features_fn`` (the input of the classifier layer, for Soteria and analytic
    attacks) is captured by calling the classifier through a recording proxy.
    """
    from flax import nnx

    graphdef, param_state, rest = nnx.split(model, nnx.Param, ...)
    params = nnx.to_pure_dict(param_state)

    def merged(p):
        state = jax.tree.map(lambda a: a, param_state)
        nnx.replace_by_pure_dict(state, p)
        return nnx.merge(graphdef, state, rest)

    def apply_fn(p, x):
        return merged(p)(x)

    order = nnx_layer_order(model, params)
    kpath = (
        tuple(classifier_path)
        if classifier_path
        else find_classifier_path(params, num_classes, order)
    )

    def features_fn(p, x):
        module = merged(p)
        parent = module
        for k in kpath[:-2]:
            parent = _nnx_get(parent, k)
        head = _nnx_get(parent, kpath[-2])
        captured = {}

        def record(h, *a, **kw):
            captured["h"] = h
            return head(h, *a, **kw)

        proxy = type("_FeatureProbe", (), {"__call__": lambda self, *a, **kw: record(*a, **kw)})()
        object.__setattr__(parent, kpath[-2], proxy)
        module(x)
        if "h" not in captured:
            raise ValueError(
                f"from_nnx: the classifier {kpath[:-1]!r} was never called; pass classifier_path"
            )
        h = captured["h"]
        return h.reshape(h.shape[0], -1)

    return from_fn(
        apply_fn,
        params,
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_path=kpath,
        features_fn=features_fn,
        name=name or type(model).__name__.lower(),
        layer_order=order,
    )
