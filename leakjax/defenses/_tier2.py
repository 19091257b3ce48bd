"""Base for tier-2 defenses (transforms of the client's gradient function).

A tier-2 defense implements :class:`leakjax.fl.GradFnDefense`: ``wrap(model, grad_fn) ->
keyed_grad_fn(key, params, x, y)`` and a ``description``. It is *not* an optax transform: it
needs the model, the batch or per-example gradients. Using it where a tier-1
``optax.GradientTransformation`` is expected (``optax.chain``, ``tx.init``/``tx.update``) raises a
``TypeError`` that says so.
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from leakjax.fl.client import GradFn, KeyedGradFn
from leakjax.fl.defended import rekey_state
from leakjax.types import Model


class Tier2Defense:
    """Base class: subclasses set ``name``/``description`` and implement ``wrap``."""

    name: str = "tier2"
    description: str = ""
    placement: str = "step"  # a tier-2 defense wraps the gradient function: every local step

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
    """A tier-2 defense followed by a tier-1 optax transform.

    The client (:mod:`leakjax.fl.defended`) uses the two parts separately: the tier-1 state is
    carried through local training, and the tier-1 part may act on the shared update. Called
    directly, ``wrap`` applies the tier-1 part with a fresh state keyed by the call's key.

    Built by :func:`leakjax.defenses.parse_defense` for chains like ``dpsgd=1:1.1,quant=fp16``.
    """

    name = "chain"

    def __init__(self, tier2: Any, tier1: optax.GradientTransformation, description: str):
        self.tier2 = tier2
        self.tier1 = tier1
        self.description = description
        # the tier-1 part may act per step or on the shared update (leakjax.fl.client_defense)
        self.tier1_placement = getattr(tier1, "placement", None)

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        inner = self.tier2.wrap(model, grad_fn)
        tx = self.tier1

        def keyed(key, params, x, y):
            k_inner, k_state = jax.random.split(key)
            g = inner(k_inner, params, x, y)
            out, _ = tx.update(g, rekey_state(tx.init(params), k_state), params)
            return out

        return keyed
