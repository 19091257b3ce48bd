"""GGL: Generative Gradient Leakage (Li, Zhang, Liu, Liu; CVPR 2022; algorithm card 4).

Threat model: honest-but-curious server, B = 1. It knows the architecture and the current
weights, sees one (possibly defended) batch-mean gradient, and owns a generator trained on
*public* data of the same domain (:mod:`leakjax.generative`). For the adaptive variant it knows
the defense's *type* and estimates its parameter from the observed gradient
(:func:`leakjax.defenses.make_simulation`).

Algorithm. The label ``y`` comes first from iDLG's last-layer rule (or is given). Then a search
over the generator's latent for an image whose simulated gradient matches the observation:

    x(u) = normalize(G(T(u), y)),  T = tanh (``bound="tanh"``) or the identity
    L(u) = (1/L) sum_l || S(grad_theta_l CE(f(x(u)), y)) - g*_l ||_2^2  [+ 0.1 KL(u)]

with ``S`` the defense simulation (identity for the plain attack) and the KL latent
regularizer ``-1/2 (1 + log s^2 - m^2 - s^2)`` over the latent's entries (``bound="kl"``, only
without tanh, as in the reference). Optimizers (``strategy``):

* ``"cma_es"`` (default), ``"sep_cma_es"``, ``"snes"``, ``"open_es"``: evosax strategies. One
  attack step is one *generation*: ``ask`` -> the whole population's fitness in **one**
  ``jax.vmap`` -> ``tell``. The reference evaluates nevergrad's candidates one at a time.
* ``"adam"``: gradient-based baseline on the latent (lr 0.1, StyleGAN-style ramp-up over the
  first 5% and cosine ramp-down over the last 25% of ``num_generations`` when given); one step =
  one evaluation with its gradient.
* ``"bo"``: Bayesian optimization (GGL's second gradient-free optimizer; the reference uses
  TuRBO-1). A small GP-EI with a TuRBO-style trust region, written in JAX with fixed-size
  buffers so it runs inside ``lax.scan`` and ``vmap``; one step proposes and evaluates a batch
  of ``population_size`` points. (boax 0.2.0 pins ``jax<=0.4.38``; bayex 0.3.0 optimizes a dict
  of named scalar parameters one point per Python-driven step, which fits neither a 32-128-dim
  latent batch nor a scanned, vmapped attack; see benchmarks/README.md, section GGL.)

Restarts are :func:`leakjax.attacks.run`'s vmapped restarts, chosen by matching loss. The
result is the best latent ever evaluated (its matching loss is ``AttackResult.loss``), as
nevergrad's recommendation in the reference; so ``run``'s ``select="last"`` (the default) and
``select="best"`` return the same image.

References:
  Li, Zhang, Liu, Liu, "Auditing Privacy Defenses in Federated Learning via Generative Gradient
  Leakage", CVPR 2022, https://arxiv.org/abs/2203.15696.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from evosax.algorithms import CMA_ES, SNES, Open_ES, Sep_CMA_ES

from leakjax.attacks.base import Attack
from leakjax.attacks.labels import LABEL_RULES, infer_labels
from leakjax.attacks.objectives import DISTANCES
from leakjax.fl.client import client_gradient
from leakjax.generative.models import Generator, check_generator_fits
from leakjax.types import DataSpec, Model, Observation

ES_STRATEGIES = {
    "cma_es": CMA_ES,
    "sep_cma_es": Sep_CMA_ES,
    "snes": SNES,
    "open_es": Open_ES,
}
"""evosax strategies selectable by name (any other evosax class can be passed directly)."""

GGL_STRATEGIES = (*ES_STRATEGIES, "adam", "bo")
BOUNDS = ("tanh", "kl", "none")


def _is_concrete_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_positive(fn, **kw):
    for name, v in kw.items():
        if _is_concrete_number(v) and not v > 0:
            raise ValueError(f"{fn}: {name}={v!r}, expected a positive number")


def check_latent_options(fn, *, bound, distance, labels, label_rule):
    """Validate the options GGL and GIAS share (latent bound, distance, label source and rule)."""
    if bound not in BOUNDS:
        raise ValueError(f"{fn}: bound={bound!r}, expected one of {BOUNDS}")
    if distance not in DISTANCES:
        raise ValueError(f"{fn}: distance={distance!r}, expected one of {sorted(DISTANCES)}")
    if labels not in ("infer", "given"):
        raise ValueError(f"{fn}: labels={labels!r}, expected 'infer' or 'given'")
    if label_rule not in LABEL_RULES:
        raise ValueError(f"{fn}: label_rule={label_rule!r}, expected one of {sorted(LABEL_RULES)}")


def _check_int(fn, minimum=1, **kw):
    for name, v in kw.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{fn}: {name}={v!r}, expected an integer >= {minimum}")


def latent_kl(u: jax.Array) -> jax.Array:
    """GGL's latent regularizer: ``-1/2 (1 + log s^2 - m^2 - s^2)`` over the entries of ``u``
    (``m``, ``s`` = mean and biased std of the entries)."""
    m = jnp.mean(u)
    v = jnp.var(u)
    return -0.5 * (1.0 + jnp.log(v + 1e-12) - m**2 - v)


class GGLState(NamedTuple):
    """State of a GGL run (one restart).

    Attributes:
      opt_state: the evosax state, ``(u, adam_state)`` for Adam, or the BO buffers.
      key: PRNG key, split every step.
      best_u: best latent (before the bound ``T``) evaluated so far.
      best_loss: its matching loss.
      count: steps taken.
    """

    opt_state: Any
    key: jax.Array
    best_u: jax.Array
    best_loss: jax.Array
    count: jax.Array


class BOState(NamedTuple):
    """Fixed-size buffers of the Bayesian optimizer (empty slots have ``valid=False``)."""

    x: jax.Array  # (M, d) points in the box
    y: jax.Array  # (M,) their losses
    valid: jax.Array  # (M,) bool
    length: jax.Array  # trust-region side, as a fraction of the box side
    successes: jax.Array
    failures: jax.Array


def _stylegan_lr(t, total, lr, rampup=0.05, rampdown=0.25):
    """StyleGAN-projector LR: linear ramp-up over ``rampup``, cosine ramp-down over the last
    ``rampdown`` of ``total`` steps (GGL's Adam baseline)."""
    frac = t / total
    down = jnp.minimum(1.0, (1.0 - frac) / rampdown)
    down = 0.5 - 0.5 * jnp.cos(jnp.pi * down)
    up = jnp.minimum(1.0, frac / rampup)
    return lr * down * up


def ggl(
    model: Model,
    generator: Generator,
    *,
    spec: DataSpec,
    strategy: str | type = "cma_es",
    population_size: int = 32,
    num_generations: int | None = None,
    latent_dim: int | None = None,
    bound: str = "tanh",
    kl_weight: float = 0.1,
    init_std: float = 1.0,
    mean_std: float = 1.0,
    learning_rate: float = 0.1,
    distance: str = "mean_l2",
    labels: str = "infer",
    label_rule: str = "idlg",
    defense_simulation: str | Callable | None = None,
    simulation_kwargs: dict | None = None,
    simulation_factory: Callable | None = None,
    noise_std: float = 0.0,
    noise_samples: int = 0,
    generator_params: Any = None,
    bo_box: float = 2.0,
    bo_init_points: int = 64,
    bo_buffer: int = 512,
    bo_candidates: int = 1024,
    tol: float = 0.0,
) -> Attack:
    """GGL as an :class:`~leakjax.attacks.base.Attack` (one step = one generation).

    Args:
      model: the client's model (the server's copy).
      generator: a :class:`leakjax.generative.Generator` trained on public data; its output
        shape must equal the model's input shape.
      spec: the model's input normalization; generated [0, 1] images go through
        ``spec.normalize``.
      strategy: ``"cma_es"``, ``"sep_cma_es"``, ``"snes"``, ``"open_es"``, ``"adam"``, ``"bo"``,
        or an evosax distribution-based class (``evosax.algorithms.xNES``...).
      population_size: candidates per generation (ES), proposals per step (BO).
      num_generations: the number of steps you will run (only Adam's LR schedule uses it;
        ``None`` = constant LR). Pass the same number as ``steps`` to :func:`run`.
      latent_dim: size of the latent (default and only accepted value:
        ``generator.latent_dim``).
      bound: ``"tanh"`` (``z = tanh(u)``, the reference's CMA setting), ``"kl"`` (``z = u``
        plus ``kl_weight * KL(u)``, the reference's BO/Adam setting) or ``"none"``.
      kl_weight: weight of the KL latent regularizer (0.1 in the reference).
      init_std: initial step size of the ES (evosax ``std_init``; Open-ES: its std).
      mean_std: the initial mean (ES) or point (Adam) is ``mean_std * N(0, I)``.
      learning_rate: Adam's step size (0.1 in the reference); Open-ES uses Adam with it too.
      distance: a name in :data:`leakjax.attacks.objectives.DISTANCES` (``"mean_l2"`` is GGL's).
      labels: ``"infer"`` (iDLG rule) or ``"given"`` (the Observation's labels).
      label_rule: a name in :data:`leakjax.attacks.labels.LABEL_RULES`.
      defense_simulation: adaptive attack. ``None`` (plain GGL), a name understood by
        :func:`leakjax.defenses.make_simulation` (``"clip"``, ``"prune"``, ``"dgp"``,
        ``"soteria"``, ``"quant"``...; built from each observation's update), or a callable
        ``simulate(trial_update) -> trial_update``.
      simulation_kwargs: keyword arguments for ``make_simulation``.
      simulation_factory: alternatively ``factory(observed_update) -> simulate``.
      noise_std: attacker's estimate of the per-entry Gaussian noise std; with
        ``noise_samples > 0`` the matching loss is averaged over that many noise draws added
        to the trial gradient before the simulation (expectation over keys; the draws are
        shared by the whole population of a generation).
      noise_samples: number of noise draws (0 = no noise simulation).
      generator_params: override ``generator.params`` (e.g. fine-tuned ones).
      bo_box: BO searches ``u`` in ``[-bo_box, bo_box]^d`` (2 in the reference).
      bo_init_points: random initial points of BO (256 in the reference; LHS there).
      bo_buffer: points the GP keeps (the worst are dropped when full).
      bo_candidates: random candidates scored by expected improvement per step.
      tol: a run whose matching loss falls below ``tol`` is "converged" (0: never).

    Returns:
      An :class:`~leakjax.attacks.base.Attack`; run it with
      ``leakjax.attacks.run(attack, key, obs, steps=num_generations, restarts=...)``.
    """
    fn = "ggl"
    if not isinstance(generator, Generator):
        raise TypeError(
            f"{fn}: generator={type(generator).__name__} is not a leakjax.generative.Generator; "
            "load one with load_generator() or wrap yours with generator_from_fn()"
        )
    check_generator_fits(generator, model.input_shape, what=f"{fn}: generator")
    if tuple(spec.image_shape) != tuple(model.input_shape):
        raise ValueError(
            f"{fn}: spec.image_shape={spec.image_shape} differs from the model's input shape "
            f"{model.input_shape}"
        )
    if generator.conditional and generator.num_classes != model.num_classes:
        raise ValueError(
            f"{fn}: the conditional generator has num_classes={generator.num_classes}, the "
            f"model {model.num_classes}; the inferred label must be a valid generator class"
        )
    latent_dim = generator.latent_dim if latent_dim is None else latent_dim
    if latent_dim != generator.latent_dim:
        raise ValueError(
            f"{fn}: latent_dim={latent_dim!r} but the generator takes {generator.latent_dim}"
        )
    is_es_class = isinstance(strategy, type)
    if not is_es_class and strategy not in GGL_STRATEGIES:
        raise ValueError(
            f"{fn}: strategy={strategy!r}, expected one of {GGL_STRATEGIES} or an evosax "
            "algorithm class"
        )
    check_latent_options(fn, bound=bound, distance=distance, labels=labels, label_rule=label_rule)
    _check_int(fn, population_size=population_size, num_generations=num_generations)
    _check_int(fn, 0, noise_samples=noise_samples)
    _check_int(fn, bo_init_points=bo_init_points, bo_buffer=bo_buffer, bo_candidates=bo_candidates)
    _check_positive(fn, init_std=init_std, learning_rate=learning_rate, bo_box=bo_box)
    if strategy == "open_es" and population_size % 2:
        raise ValueError(
            f"{fn}: strategy='open_es' needs an even population_size, got {population_size}"
        )
    if strategy == "bo" and bo_init_points > bo_buffer:
        raise ValueError(f"{fn}: bo_init_points={bo_init_points} exceeds bo_buffer={bo_buffer}")
    if defense_simulation is not None and simulation_factory is not None:
        raise ValueError(f"{fn}: give defense_simulation or simulation_factory, not both")
    if isinstance(defense_simulation, str):
        from leakjax.defenses.simulate import SIMULATIONS

        if defense_simulation not in SIMULATIONS:
            raise ValueError(
                f"{fn}: defense_simulation={defense_simulation!r}, expected one of {SIMULATIONS}"
                " or a callable"
            )
    elif defense_simulation is not None and not callable(defense_simulation):
        raise TypeError(f"{fn}: defense_simulation={defense_simulation!r} is not a str/callable")
    sim_kw = dict(simulation_kwargs or {})

    grad_fn = client_gradient(model)
    dist = DISTANCES[distance]
    gparams = generator.params if generator_params is None else generator_params
    bound_fn = jnp.tanh if bound == "tanh" else (lambda u: u)

    # ---------------------------------------------------------------------------------------
    # the objective
    # ---------------------------------------------------------------------------------------
    def target_labels(obs: Observation):
        if obs.batch_size != 1:
            raise ValueError(
                f"{fn}: batch_size={obs.batch_size}; GGL reconstructs one image (B = 1)"
            )
        if labels == "given":
            if obs.labels is None:
                raise ValueError(
                    f"{fn}: labels='given' but the observation carries no labels; observe with "
                    "reveal_labels=True or use labels='infer'"
                )
            return obs.labels.astype(jnp.int32)
        return infer_labels(model, obs.update, rule=label_rule, batch_size=1)

    def simulation(obs: Observation):
        if simulation_factory is not None:
            return simulation_factory(obs.update)
        if defense_simulation is None:
            return lambda g: g
        if isinstance(defense_simulation, str):
            from leakjax.defenses.simulate import make_simulation

            return make_simulation(defense_simulation, obs.update, model=model, **sim_kw)
        return defense_simulation

    def image(u, y, gp=gparams):
        z = bound_fn(u)[None]
        img01 = generator.images01(gp, z, y if generator.conditional else None)
        return spec.normalize(img01)

    def make_fitness(obs: Observation):
        y = target_labels(obs)
        simulate = simulation(obs)

        def fitness(u, key, gp=gparams):
            g = grad_fn(obs.params, image(u, y, gp), y)
            if noise_samples:
                keys = jax.random.split(key, noise_samples)

                def one(k):
                    leaves, treedef = jax.tree.flatten(g)
                    ks = jax.random.split(k, len(leaves))
                    noisy = [
                        leaf + noise_std * jax.random.normal(kk, leaf.shape, leaf.dtype)
                        for leaf, kk in zip(leaves, ks)
                    ]
                    return dist(simulate(jax.tree.unflatten(treedef, noisy)), obs.update)

                loss = jnp.mean(jax.vmap(one)(keys))
            else:
                loss = dist(simulate(g), obs.update)
            if bound == "kl":
                loss = loss + kl_weight * latent_kl(u)
            return loss

        return fitness, y

    solution = jnp.zeros((latent_dim,), jnp.float32)

    def _finite(v):
        return jnp.where(jnp.isfinite(v), v, jnp.inf)

    def _keep_best(state_best_u, state_best_loss, cand_u, cand_loss):
        better = cand_loss < state_best_loss
        return (
            jnp.where(better, cand_u, state_best_u),
            jnp.where(better, cand_loss, state_best_loss),
        )

    # ---------------------------------------------------------------------------------------
    # evolution strategies (evosax)
    # ---------------------------------------------------------------------------------------
    if is_es_class or strategy in ES_STRATEGIES:
        cls = strategy if is_es_class else ES_STRATEGIES[strategy]
        if cls is Open_ES:
            es = Open_ES(
                population_size=population_size,
                solution=solution,
                optimizer=optax.adam(learning_rate),
                std_schedule=optax.constant_schedule(init_std),
            )
        else:
            es = cls(population_size=population_size, solution=solution)
        es_params = es.default_params
        if hasattr(es_params, "std_init"):
            es_params = es_params.replace(std_init=jnp.asarray(init_std, jnp.float32))

        def init(key, obs):
            k_mean, k_es, key = jax.random.split(key, 3)
            mean = mean_std * jax.random.normal(k_mean, (latent_dim,), jnp.float32)
            es_state = es.init(k_es, mean, es_params)
            return GGLState(
                es_state, key, mean, jnp.asarray(jnp.inf, jnp.float32), jnp.zeros((), jnp.int32)
            )

        def step(state, obs):
            fitness, _ = make_fitness(obs)
            key, k_ask, k_tell, k_noise = jax.random.split(state.key, 4)
            pop, es_state = es.ask(k_ask, state.opt_state, es_params)
            fit = _finite(jax.vmap(lambda u: fitness(u, k_noise))(pop))
            es_state, _ = es.tell(k_tell, pop, fit, es_state, es_params)
            i = jnp.argmin(fit)
            best_u, best_loss = _keep_best(state.best_u, state.best_loss, pop[i], fit[i])
            return GGLState(es_state, key, best_u, best_loss, state.count + 1), fit[i]

    # ---------------------------------------------------------------------------------------
    # Adam on the latent (gradient-based baseline)
    # ---------------------------------------------------------------------------------------
    elif strategy == "adam":
        adam = optax.scale_by_adam()

        def init(key, obs):
            k_u, key = jax.random.split(key)
            u = mean_std * jax.random.normal(k_u, (latent_dim,), jnp.float32)
            return GGLState(
                (u, adam.init(u)),
                key,
                u,
                jnp.asarray(jnp.inf, jnp.float32),
                jnp.zeros((), jnp.int32),
            )

        def step(state, obs):
            fitness, _ = make_fitness(obs)
            key, k_noise = jax.random.split(state.key)
            u, opt = state.opt_state
            loss, g = jax.value_and_grad(fitness)(u, k_noise)
            upd, opt = adam.update(g, opt, u)
            lr = (
                learning_rate
                if num_generations is None
                else _stylegan_lr(state.count.astype(jnp.float32), num_generations, learning_rate)
            )
            loss = _finite(loss)
            best_u, best_loss = _keep_best(state.best_u, state.best_loss, u, loss)
            u_new = u - lr * upd
            return GGLState((u_new, opt), key, best_u, best_loss, state.count + 1), loss

    # ---------------------------------------------------------------------------------------
    # Bayesian optimization (GP + expected improvement, TuRBO-style trust region)
    # ---------------------------------------------------------------------------------------
    else:
        q = population_size

        def init(key, obs):
            fitness, _ = make_fitness(obs)
            k_x, k_noise, key = jax.random.split(key, 3)
            x0 = jax.random.uniform(k_x, (bo_init_points, latent_dim), jnp.float32, -bo_box, bo_box)
            y0 = _finite(jax.vmap(lambda u: fitness(u, k_noise))(x0))
            pad = bo_buffer - bo_init_points
            bo = BOState(
                x=jnp.concatenate([x0, jnp.zeros((pad, latent_dim), jnp.float32)]),
                y=jnp.concatenate([y0, jnp.zeros((pad,), jnp.float32)]),
                valid=jnp.arange(bo_buffer) < bo_init_points,
                length=jnp.asarray(0.8, jnp.float32),
                successes=jnp.zeros((), jnp.int32),
                failures=jnp.zeros((), jnp.int32),
            )
            i = jnp.argmin(y0)
            return GGLState(bo, key, x0[i], y0[i], jnp.zeros((), jnp.int32))

        def step(state, obs):
            fitness, _ = make_fitness(obs)
            key, k_prop, k_noise = jax.random.split(state.key, 3)
            bo = state.opt_state
            xq = _bo_propose(k_prop, bo, state.best_u, q, bo_box, bo_candidates)
            yq = _finite(jax.vmap(lambda u: fitness(u, k_noise))(xq))
            i = jnp.argmin(yq)
            improved = yq[i] < state.best_loss - 1e-3 * jnp.abs(state.best_loss)
            best_u, best_loss = _keep_best(state.best_u, state.best_loss, xq[i], yq[i])
            bo = _bo_insert(bo, xq, yq)
            bo = _bo_trust_region(bo, improved, fail_limit=max(4, math.ceil(latent_dim / q)))
            return GGLState(bo, key, best_u, best_loss, state.count + 1), yq[i]

    def result(state, obs):
        _, y = make_fitness(obs)
        return image(state.best_u, y), y, state.best_loss

    return Attack(
        init=init,
        step=step,
        result=result,
        spec=spec,
        tol=tol,
        early_stop=False,
        name="ggl" if defense_simulation is None and simulation_factory is None else "ggl_adaptive",
    )


# -------------------------------------------------------------------------------------------
# BO helpers (pure, fixed shapes)
# -------------------------------------------------------------------------------------------

_LENGTHSCALES = jnp.asarray([0.05, 0.1, 0.2, 0.4, 0.8, 1.6], jnp.float32)
_GP_NOISE = 1e-3


def _gp_fit(x01, y, valid):
    """Standardize ``y`` and pick the RBF lengthscale (on [0, 1]^d inputs scaled by sqrt(d))
    with the best log marginal likelihood from a fixed grid. Returns what prediction needs."""
    n_valid = jnp.maximum(jnp.sum(valid), 1)
    mu = jnp.sum(jnp.where(valid, y, 0.0)) / n_valid
    var = jnp.sum(jnp.where(valid, (y - mu) ** 2, 0.0)) / n_valid
    sd = jnp.sqrt(var) + 1e-9
    ys = jnp.where(valid, (y - mu) / sd, 0.0)
    d = x01.shape[-1]
    sq = jnp.sum((x01[:, None, :] - x01[None, :, :]) ** 2, -1) / d
    pair = valid[:, None] & valid[None, :]

    def lml(ls):
        k = jnp.where(pair, jnp.exp(-0.5 * sq / ls**2), 0.0)
        k = k + jnp.diag(jnp.where(valid, _GP_NOISE, 1.0))
        chol = jnp.linalg.cholesky(k)
        alpha = jax.scipy.linalg.cho_solve((chol, True), ys)
        logdet = 2.0 * jnp.sum(jnp.where(valid, jnp.log(jnp.diag(chol)), 0.0))
        return -0.5 * ys @ alpha - 0.5 * logdet, chol, alpha

    scores, chols, alphas = jax.vmap(lml)(_LENGTHSCALES)
    scores = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    j = jnp.argmax(scores)
    return _LENGTHSCALES[j], chols[j], alphas[j], ys, mu, sd


def _bo_propose(key, bo: BOState, best_u, q, box, num_candidates):
    """``q`` proposals: the top expected improvement among random candidates in the trust
    region around the best point (TuRBO-1's box, side ``length * 2 * box``)."""
    d = bo.x.shape[-1]
    to01 = lambda u: (u + box) / (2.0 * box)
    x01 = to01(bo.x)
    ls, chol, alpha, ys, _, _ = _gp_fit(x01, bo.y, bo.valid)
    half = bo.length * box
    lo = jnp.clip(best_u - half, -box, box)
    hi = jnp.clip(best_u + half, -box, box)
    k_c, k_m = jax.random.split(key)
    cand = lo + (hi - lo) * jax.random.uniform(k_c, (num_candidates, d), jnp.float32)
    # TuRBO perturbs only a subset of coordinates in high dimension: keep each coordinate of
    # the best point with probability 1 - min(1, 20/d)
    keep = jax.random.uniform(k_m, (num_candidates, d)) > min(1.0, 20.0 / d)
    cand = jnp.where(keep, best_u, cand)
    c01 = to01(cand)
    sq = jnp.sum((c01[:, None, :] - x01[None, :, :]) ** 2, -1) / d
    ks = jnp.where(bo.valid[None, :], jnp.exp(-0.5 * sq / ls**2), 0.0)
    mean = ks @ alpha
    v = jax.scipy.linalg.solve_triangular(chol, ks.T, lower=True)
    std = jnp.sqrt(jnp.maximum(1.0 + _GP_NOISE - jnp.sum(v**2, 0), 1e-12))
    best = jnp.min(jnp.where(bo.valid, ys, jnp.inf))
    zscore = (best - mean) / std
    ei = std * (zscore * jax.scipy.stats.norm.cdf(zscore) + jax.scipy.stats.norm.pdf(zscore))
    _, idx = jax.lax.top_k(ei, q)
    return cand[idx]


def _bo_insert(bo: BOState, xq, yq) -> BOState:
    """Put the new points into empty slots first, then over the worst stored points."""
    priority = jnp.where(bo.valid, bo.y, jnp.inf)
    _, idx = jax.lax.top_k(priority, xq.shape[0])
    return bo._replace(
        x=bo.x.at[idx].set(xq), y=bo.y.at[idx].set(yq), valid=bo.valid.at[idx].set(True)
    )


def _bo_trust_region(bo: BOState, improved, *, fail_limit: int) -> BOState:
    succ = jnp.where(improved, bo.successes + 1, 0)
    fail = jnp.where(improved, 0, bo.failures + 1)
    length = jnp.where(succ >= 3, jnp.minimum(bo.length * 2.0, 1.6), bo.length)
    succ = jnp.where(succ >= 3, 0, succ)
    length = jnp.where(fail >= fail_limit, length / 2.0, length)
    fail = jnp.where(fail >= fail_limit, 0, fail)
    length = jnp.where(length < 2.0**-7, 0.8, length)  # restart the region
    return bo._replace(length=length, successes=succ, failures=fail)
