"""The client's defense: where it acts, its state, and its randomness (one mechanism for all).

The simulated client (:func:`leakjax.fl.observe`, :func:`leakjax.fl.observe_update`), the
attacker that imitates it inside its objective, and the FedAvg utility simulation
(:func:`leakjax.fl.fedavg`) all go through :class:`ClientDefense`:

* a defense is split into its tier-2 part (a transform of the gradient function: DP-SGD,
  Soteria, MixUp, GradDefense's clip variant) and its tier-1 part (an
  ``optax.GradientTransformation``), either of which may be absent;
* the tier-2 part always acts on each local step's gradient; the tier-1 part acts on each local
  step (``"step"``) or once on the shared update (``"update"``), see
  :mod:`leakjax.defenses.placement` for the two choices and their references;
* the tier-1 state (an error-feedback residual, Outpost's iteration counter, the noise key) is
  created by :meth:`ClientDefense.init` and carried by the caller: through the local-training
  scan, and across FedAvg rounds;
* **randomness comes from the key of the call.** :meth:`ClientDefense.init` replaces every PRNG
  key in the tier-1 state by one derived from the given key (:func:`rekey_state`), and the
  tier-2 part gets a fresh key per step. So a defense object built once and reused for many
  victims or rounds never repeats its noise; the same key gives the same output.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from leakjax.fl.client import GradFn, client_gradient, is_tier1
from leakjax.types import Model, Params, PRNGKey

PLACEMENTS = ("step", "update")
_STATE_SALT = 0x5EED


def _is_key_array(leaf) -> bool:
    return isinstance(leaf, jax.Array | jax.core.Tracer) and jnp.issubdtype(
        leaf.dtype, jax.dtypes.prng_key
    )


def rekey_state(state: Any, key: PRNGKey) -> Any:
    """``state`` with every typed PRNG key leaf replaced by ``fold_in(key, i)`` (i = leaf index).

    Works for any optax state tree (``optax.chain`` tuples, NamedTuples); key leaves with a
    shape get as many independent keys. Other leaves are returned unchanged.
    """
    leaves, treedef = jax.tree.flatten(state)
    out = []
    for i, leaf in enumerate(leaves):
        if _is_key_array(leaf):
            k = jax.random.fold_in(key, i)
            out.append(k if leaf.shape == () else jax.random.split(k, leaf.shape))
        else:
            out.append(leaf)
    return jax.tree.unflatten(treedef, out)


def split_defense(defense: Any, *, fn: str = "defense") -> tuple[Any, Any]:
    """``(tier2, tier1)`` parts of a defense (``None`` where absent)."""
    if defense is None:
        return None, None
    if is_tier1(defense):
        return None, defense
    if hasattr(defense, "tier2") and hasattr(defense, "tier1"):  # Tier2ThenTier1
        return defense.tier2, defense.tier1
    if callable(getattr(defense, "wrap", None)):
        return defense, None
    raise TypeError(
        f"{fn}: defense={defense!r}; expected None, an optax.GradientTransformation (tier 1) or "
        "a tier-2 defense with a .wrap(model, grad_fn) method"
    )


def default_placement(defense: Any) -> str:
    """Where ``defense``'s tier-1 part acts when the recipe does not say: its tag, else ``"step"``."""
    _, tier1 = split_defense(defense)
    if tier1 is None:
        return "step"
    return getattr(defense, "tier1_placement", None) or getattr(tier1, "placement", None) or "step"


def check_placement(
    fn: str, placement, *, allow_none: bool = True, name: str = "defense_placement"
) -> None:
    if placement is None and allow_none:
        return
    if placement not in PLACEMENTS:
        raise ValueError(
            f"{fn}: {name}={placement!r}, expected one of {PLACEMENTS} ('step': every "
            "local step's gradient; 'update': once on the shared update)"
            + ("; or None for the defense's default" if allow_none else "")
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ClientDefense:
    """A defense resolved for one client: its parts and where the tier-1 part acts.

    Build with :meth:`build`. ``init(key, params)`` gives the tier-1 state (``()`` when there is
    none) with its keys derived from ``key``; ``gradient`` gives one step's defended gradient;
    ``on_update`` defends the shared update's pseudo-gradient when ``placement == "update"``.
    """

    tier2: Any
    tier1: Any
    placement: str

    @classmethod
    def build(cls, defense: Any, placement: str | None = None, *, fn: str = "defense"):
        check_placement(fn, placement)
        tier2, tier1 = split_defense(defense, fn=fn)
        return cls(tier2, tier1, placement or default_placement(defense))

    @property
    def active(self) -> bool:
        return self.tier1 is not None or self.tier2 is not None

    @property
    def per_step_tier1(self) -> bool:
        return self.tier1 is not None and self.placement == "step"

    @property
    def on_update_tier1(self) -> bool:
        return self.tier1 is not None and self.placement == "update"

    def init(self, key: PRNGKey, params: Params, state: Any = None) -> Any:
        """The tier-1 state for a round keyed by ``key``: fresh, or ``state`` continued (its
        residuals and counters kept, its keys replaced by ones derived from ``key``)."""
        if self.tier1 is None:
            return ()
        state = self.tier1.init(params) if state is None else state
        return rekey_state(state, jax.random.fold_in(key, _STATE_SALT))

    @staticmethod
    def step_key(key: PRNGKey, step) -> PRNGKey:
        """The tier-2 part's key at local step ``step`` of the round keyed by ``key``."""
        return jax.random.fold_in(jax.random.fold_in(key, 1), step)

    def gradient_fn(self, model: Model, grad_fn: GradFn | None = None):
        """``fn(key, state, params, x, y) -> (grads, state)``: one step's defended gradient.

        ``grad_fn`` defaults to the client's batch-mean gradient of ``model``. The tier-1 part is
        applied only when it acts per step (otherwise the state passes through).
        """
        grad_fn = grad_fn or client_gradient(model)
        wrapped = self.tier2.wrap(model, grad_fn) if self.tier2 is not None else None

        def fn(key, state, params, x, y):
            g = wrapped(key, params, x, y) if wrapped is not None else grad_fn(params, x, y)
            if self.per_step_tier1:
                g, state = self.tier1.update(g, state, params)
            return g, state

        return fn

    def on_update(self, state, params: Params, pseudo_gradient):
        """Defend the shared update's pseudo-gradient (a no-op unless placement is "update")."""
        if not self.on_update_tier1:
            return pseudo_gradient, state
        return self.tier1.update(pseudo_gradient, state, params)


def as_defense_transform(simulate) -> optax.GradientTransformation:
    """A deterministic ``f(update) -> update`` (an attacker's simulation) as a stateless
    tier-1 transform, so that it can stand in the client's recipe (per step or on the update)."""
    return optax.stateless(lambda updates, params=None: simulate(updates))
