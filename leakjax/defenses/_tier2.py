"""Base for tier-2 defenses (transforms of the client's gradient function).

A tier-2 defense implements :class:`leakjax.fl.GradFnDefense`: ``wrap(model, grad_fn) ->
keyed_grad_fn(key, params, x, y)`` and a ``description``. It is *not* an optax transform: it
needs the model, the batch or per-example gradients. Using it where a tier-1
``optax.GradientTransformation`` is expected (``optax.chain``, ``tx.init``/``tx.update``) raises a
``TypeError`` that says so.
"""

from __future__ import annotations

from typing import Any

import optax

from leakjax.fl.client import GradFn, KeyedGradFn
from leakjax.types import Model


class Tier2Defense:
    """Base class: subclasses set ``name``/``description`` and implement ``wrap``."""

    name: str = "tier2"
    description: str = ""

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:  # pragma: no cover
        raise NotImplementedError

    def _not_tier1(self, *args, **kwargs):
        raise TypeError(
            f"{self.name} is a tier-2 defense (it needs the model, the batch or per-example "
            "gradients) and cannot be used as an optax.GradientTransformation (init/update, "
            "optax.chain, optax.masked); pass it as defense= to leakjax.fl.observe / "
            "apply_defense, or call .wrap(model, grad_fn)"
        )

    init = property(lambda self: self._not_tier1)
    update = property(lambda self: self._not_tier1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description})"


class Tier2ThenTier1(Tier2Defense):
    """A tier-2 defense followed by a tier-1 optax transform applied with a fresh state.

    Built by :func:`leakjax.defenses.parse_defense` for chains like ``dpsgd=1:1.1,quant=fp16``.
    """

    name = "chain"

    def __init__(self, tier2: Any, tier1: optax.GradientTransformation, description: str):
        self.tier2 = tier2
        self.tier1 = tier1
        self.description = description

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        inner = self.tier2.wrap(model, grad_fn)
        tx = self.tier1

        def keyed(key, params, x, y):
            g = inner(key, params, x, y)
            out, _ = tx.update(g, tx.init(params), params)
            return out

        return keyed
