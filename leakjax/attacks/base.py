"""The attack interface: an optax-style pair of pure functions plus what the driver needs.

An attack factory (``dlg(model, ...)``) returns an :class:`Attack`. Building it *inside* the
function being vmapped lets numeric hyperparameters be tracers, so sweeps over them are one
compiled program. A numeric hyperparameter never drives Python control flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from leakjax.attacks.optim import TorchLBFGS
from leakjax.types import (
    Array,
    DataSpec,
    Model,
    Observation,
    PRNGKey,
    check_update_matches_params,
)


def check_observation(model: Model, obs: Observation) -> None:
    """Trace-time check that ``obs.update`` and ``obs.params`` have the model's params tree."""
    if not isinstance(obs, Observation):
        raise TypeError(f"obs={type(obs).__name__}: expected a leakjax Observation")
    check_update_matches_params(obs.update, model.params, name="observation.update")
    check_update_matches_params(obs.params, model.params, name="observation.params")


class Attack(NamedTuple):
    """A gradient-inversion attack as pure functions.

    Attributes:
      init: ``init(key, obs) -> state``.
      step: ``step(state, obs) -> (state, loss)``, ``loss`` = matching loss at the start.
      result: ``result(state, obs) -> (inputs, labels, loss)`` with ``inputs`` in the model's
        input space (unclipped) and ``loss`` the matching loss of those inputs.
      spec: maps the model's input space back to [0, 1].
      tol: a run whose matching loss falls below ``tol`` is "converged".
      early_stop: freeze the state once converged (iDLG's reference stops at loss < 1e-6).
      name: short name for records.
      decode: optional ``decode(raw, obs) -> inputs`` mapping the kept restart's raw result to
        ``AttackResult.inputs``. ``None`` (images) means ``clip(spec.denormalize(raw), 0, 1)``;
        text attacks decode embeddings to token ids here (their ``spec`` is ``None``).
      select: which iterate of a run :func:`leakjax.attacks.run` returns: ``"last"`` (the state
        after the final step) or ``"best"`` (the iterate with the lowest matching loss over all
        steps, breaching's rule). Each factory sets its reference's choice; ``run(select=...)``
        overrides it.
    """

    init: Callable[[PRNGKey, Observation], Any]
    step: Callable[[Any, Observation], tuple[Any, Array]]
    result: Callable[[Any, Observation], tuple[Array, Array, Array]]
    spec: DataSpec | None
    tol: float = 1e-6
    early_stop: bool = False
    name: str = "attack"
    decode: Callable[[Array, Observation], Array] | None = None
    select: str = "last"


SELECT_RULES = ("last", "best")
"""Values of :attr:`Attack.select` / ``run(select=...)``."""


class FlatState(NamedTuple):
    """State of an attack optimizing one flat vector (torch-style L-BFGS or an optax optimizer)."""

    flat: Array
    opt_state: Any


def flat_optimizer_attack(
    *,
    objective: Callable[[Array, Observation], Array],
    sample_init: Callable[[PRNGKey, Observation], Any],
    decode: Callable[[Array, Observation], tuple[Array, Array]],
    optimizer: TorchLBFGS | optax.GradientTransformation,
    spec: DataSpec,
    tol: float,
    early_stop: bool,
    name: str,
    project: Callable[[Array], Array] | None = None,
    select: str = "last",
) -> Attack:
    """Build an :class:`Attack` that minimizes ``objective(flat, obs)`` over a flat vector.

    Args:
      objective: the matching loss of a flat vector of unknowns.
      sample_init: ``(key, obs) -> pytree`` of initial unknowns (raveled once).
      decode: ``(flat, obs) -> (inputs_model_space, labels)``.
      optimizer: :func:`leakjax.attacks.optim.torch_lbfgs` or any optax transformation (an
        ``optax.lbfgs``-style one receives ``value=``, ``grad=`` and ``value_fn=``).
      project: optional projection applied after every optax update (box constraints).
      select: :attr:`Attack.select` (``"last"`` or ``"best"``).
    """
    value_and_grad = jax.value_and_grad(objective)

    def init(key, obs):
        tree = sample_init(key, obs)
        flat, _ = ravel_pytree(tree)
        if isinstance(optimizer, TorchLBFGS):
            return FlatState(flat=flat, opt_state=optimizer.init(flat))
        return FlatState(flat=flat, opt_state=optimizer.init(flat))

    def step(state, obs):
        if isinstance(optimizer, TorchLBFGS):
            opt_state, loss = optimizer.step(state.opt_state, lambda f: value_and_grad(f, obs))
            return FlatState(flat=opt_state.x, opt_state=opt_state), loss
        loss, grad = value_and_grad(state.flat, obs)
        updates, opt_state = optimizer.update(
            grad,
            state.opt_state,
            state.flat,
            **(
                dict(value=loss, grad=grad, value_fn=lambda f: objective(f, obs))
                if isinstance(optimizer, optax.GradientTransformationExtraArgs)
                else {}
            ),
        )
        flat = optax.apply_updates(state.flat, updates)
        if project is not None:
            flat = project(flat)
        return FlatState(flat=flat, opt_state=opt_state), loss

    def result(state, obs):
        inputs, labels = decode(state.flat, obs)
        return inputs, labels, objective(state.flat, obs)

    return Attack(
        init=init,
        step=step,
        result=result,
        spec=spec,
        tol=tol,
        early_stop=early_stop,
        name=name,
        select=select,
    )


def gaussian_like(key: PRNGKey, shape, dtype=jnp.float32) -> Array:
    return jax.random.normal(key, shape, dtype)
