"""GIAS: gradient inversion with a generative image prior (Jeon et al., NeurIPS 2021).

Threat model: as GGL (card 4): B = 1, the server knows the weights, sees one (possibly
defended) gradient and owns a generator trained on public data; the label is inferred with
iDLG's rule or given.

Two phases, one attack (``run(..., steps=latent_steps + param_steps)``):

1. **Latent search**: Adam on the latent ``u`` (image ``G(T(u), y)``) for ``latent_steps``
   steps, minimizing the gradient-matching distance (+ optional KL latent regularizer).
2. **Parameter fine-tuning**: from the best latent of phase 1, freeze ``u`` and optimize the
   *generator's parameters* with Adam on the same matching loss (+ optionally
   ``param_reg_weight * ||w - w_0||^2`` keeping them near the pretrained ones), so the image can
   leave the generator's range where the prior is wrong.

The returned reconstruction is the best (lowest matching loss) image seen in either phase
(so ``run``'s ``select="last"`` and ``"best"`` return the same image).
Defaults [unchecked against the GIAS code]: cosine distance over all layers (GIAS builds on
Inverting Gradients' loss), latent lr 0.1, parameter lr 1e-3.

References:
  Jeon, Kim, Lee, Lee, Ok, "Gradient Inversion with Generative Image Prior", NeurIPS 2021,
  https://arxiv.org/abs/2110.14962.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack
from leakjax.attacks.ggl import check_latent_options, latent_kl
from leakjax.attacks.labels import infer_labels
from leakjax.attacks.objectives import DISTANCES
from leakjax.fl.client import client_gradient
from leakjax.generative.models import Generator, check_generator_fits
from leakjax.types import DataSpec, Model


class GIASState(NamedTuple):
    u: jax.Array
    gen_params: Any
    opt_u: Any
    opt_g: Any
    best_u: jax.Array  # best latent of phase 1 (phase 2 starts from it)
    best_latent_loss: jax.Array
    best_gen_params: Any  # generator params of the best image overall
    best_image_u: jax.Array  # latent of the best image overall
    best_loss: jax.Array
    count: jax.Array


def gias(
    model: Model,
    generator: Generator,
    *,
    spec: DataSpec,
    latent_steps: int = 100,
    latent_learning_rate: float = 0.1,
    param_learning_rate: float = 1e-3,
    param_reg_weight: float = 0.0,
    bound: str = "none",
    kl_weight: float = 0.1,
    mean_std: float = 1.0,
    distance: str = "cosine",
    labels: str = "infer",
    label_rule: str = "idlg",
    defense_simulation: str | Callable | None = None,
    simulation_kwargs: dict | None = None,
    tol: float = 0.0,
) -> Attack:
    """GIAS as an :class:`~leakjax.attacks.base.Attack`.

    Args:
      model, generator, spec: as :func:`leakjax.attacks.ggl`.
      latent_steps: Adam steps on the latent before fine-tuning the generator (static).
      latent_learning_rate: Adam step size for the latent.
      param_learning_rate: Adam step size for the generator's parameters.
      param_reg_weight: weight of ``||w - w_pretrained||^2`` in phase 2 (0 = none).
      bound: ``"none"`` (default), ``"tanh"`` or ``"kl"`` (see :func:`ggl`).
      kl_weight: weight of the KL latent regularizer when ``bound="kl"``.
      mean_std: the initial latent is ``mean_std * N(0, I)``.
      distance: a name in :data:`leakjax.attacks.objectives.DISTANCES`.
      labels, label_rule: as :func:`ggl`.
      defense_simulation, simulation_kwargs: adaptive mode, as :func:`ggl`.
      tol: converged when the matching loss falls below it (0: never).
    """
    fn = "gias"
    if not isinstance(generator, Generator):
        raise TypeError(f"{fn}: generator={type(generator).__name__} is not a Generator")
    check_generator_fits(generator, model.input_shape, what=f"{fn}: generator")
    if isinstance(latent_steps, bool) or not isinstance(latent_steps, int) or latent_steps < 0:
        raise ValueError(f"{fn}: latent_steps={latent_steps!r}, expected an integer >= 0")
    check_latent_options(fn, bound=bound, distance=distance, labels=labels, label_rule=label_rule)
    for name, v in dict(
        latent_learning_rate=latent_learning_rate, param_learning_rate=param_learning_rate
    ).items():
        if isinstance(v, (int, float)) and not v > 0:
            raise ValueError(f"{fn}: {name}={v!r}, expected a positive number")
    grad_fn = client_gradient(model)
    dist = DISTANCES[distance]
    bound_fn = jnp.tanh if bound == "tanh" else (lambda u: u)
    gp0 = generator.params
    opt_u_tx = optax.adam(latent_learning_rate)
    opt_g_tx = optax.adam(param_learning_rate)
    sim_kw = dict(simulation_kwargs or {})

    def target_labels(obs):
        if obs.batch_size != 1:
            raise ValueError(f"{fn}: batch_size={obs.batch_size}; GIAS here reconstructs B = 1")
        if labels == "given":
            if obs.labels is None:
                raise ValueError(f"{fn}: labels='given' but the observation carries no labels")
            return obs.labels.astype(jnp.int32)
        return infer_labels(model, obs.update, rule=label_rule, batch_size=1)

    def simulation(obs):
        if defense_simulation is None:
            return lambda g: g
        if isinstance(defense_simulation, str):
            from leakjax.defenses.simulate import make_simulation

            return make_simulation(defense_simulation, obs.update, model=model, **sim_kw)
        return defense_simulation

    def image(u, gp, y):
        img01 = generator.images01(gp, bound_fn(u)[None], y if generator.conditional else None)
        return spec.normalize(img01)

    def matching(u, gp, obs, y, simulate):
        loss = dist(simulate(grad_fn(obs.params, image(u, gp, y), y)), obs.update)
        if bound == "kl":
            loss = loss + kl_weight * latent_kl(u)
        return loss

    def init(key, obs):
        u = mean_std * jax.random.normal(key, (generator.latent_dim,), jnp.float32)
        inf = jnp.asarray(jnp.inf, jnp.float32)
        return GIASState(
            u,
            gp0,
            opt_u_tx.init(u),
            opt_g_tx.init(gp0),
            u,
            inf,
            gp0,
            u,
            inf,
            jnp.zeros((), jnp.int32),
        )

    def step(state, obs):
        y = target_labels(obs)
        simulate = simulation(obs)

        def latent_phase(s):
            loss, g = jax.value_and_grad(matching)(s.u, s.gen_params, obs, y, simulate)
            loss = jnp.where(jnp.isfinite(loss), loss, jnp.inf)
            upd, opt_u = opt_u_tx.update(g, s.opt_u, s.u)
            better = loss < s.best_latent_loss
            return s._replace(
                u=optax.apply_updates(s.u, upd),
                opt_u=opt_u,
                best_u=jnp.where(better, s.u, s.best_u),
                best_latent_loss=jnp.where(better, loss, s.best_latent_loss),
            ), loss

        def param_phase(s):
            def total(gp):
                m = matching(s.best_u, gp, obs, y, simulate)
                reg = sum(
                    jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(gp), jax.tree.leaves(gp0))
                )
                return m + param_reg_weight * reg, m

            (_, m), g = jax.value_and_grad(total, has_aux=True)(s.gen_params)
            m = jnp.where(jnp.isfinite(m), m, jnp.inf)
            upd, opt_g = opt_g_tx.update(g, s.opt_g, s.gen_params)
            return s._replace(gen_params=optax.apply_updates(s.gen_params, upd), opt_g=opt_g), m

        in_latent = state.count < latent_steps
        s_new, loss = jax.lax.cond(in_latent, latent_phase, param_phase, state)
        # the image evaluated this step: (u, params before the update)
        u_eval = jnp.where(in_latent, state.u, state.best_u)
        better = loss < state.best_loss
        s_new = s_new._replace(
            best_loss=jnp.where(better, loss, state.best_loss),
            best_image_u=jnp.where(better, u_eval, state.best_image_u),
            best_gen_params=jax.tree.map(
                lambda a, b: jnp.where(better, a, b), state.gen_params, state.best_gen_params
            ),
            count=state.count + 1,
        )
        return s_new, loss

    def result(state, obs):
        y = target_labels(obs)
        return image(state.best_image_u, state.best_gen_params, y), y, state.best_loss

    return Attack(init=init, step=step, result=result, spec=spec, tol=tol, name="gias")
