"""Inverting Gradients (Geiping, Bauermeister, Dröge, Moeller; NeurIPS 2020, arXiv:2003.14053),
its multi-step FedAvg variant, and GradInversion (Yin et al., CVPR 2021, arXiv:2104.07586).

Threat model: honest-but-curious server; knows the architecture, the parameters the client
started from and the data normalization; labels are given (``obs.labels``) or inferred from the
classifier gradient by a rule of :mod:`leakjax.attacks.labels`; B known. It sees one gradient
(``obs.kind == "gradient"``) or one multi-step weight update (``obs.kind == "delta"``), which it
explains by running the client's own local training (:func:`leakjax.fl.local_update`) on the
dummy data, differentiating through every local step. The local-training recipe the attacker
*assumes* is the factory's ``recipe`` (or ``threat_model.recipe``), else the one recorded in the
Observation, so a mismatched recipe can be studied.

Objective (card 3), per candidate ``x`` in the model's (normalized) input space:
``R(x) = scale * D(u(x, y), u*) + tv_weight * TV(x)`` with ``D`` the cosine distance over
**all layers concatenated** (:func:`leakjax.attacks.objectives.cosine_distance`, per-layer
weights ``"equal"``, ``"linear"`` (1 down to 1/L in module order) or ``"exp"`` (softmax of
L..1)), and TV the anisotropic total variation: inversefed's and plato's mean over interior
differences (``tv_variant="inversefed"``) or breaching's zero-padded stencil
(``tv_variant="breaching"``; :mod:`leakjax.attacks.priors`). Optional GradInversion priors
(card 5): ``+ bn_weight * BN(x) + l2_weight * ||x|| + group_weight * ||x - mean_g x_g||``.

Optimizer (card 3): Adam (lr 0.1) on ``sign(grad_x R)`` (``signed=True``), learning rate x0.1 at
steps ``floor(N/2.667)``, ``floor(N/1.6)``, ``floor(N/1.142)`` where ``N = max_steps`` (a static
factory argument: pass the same number to :func:`leakjax.attacks.run` as ``steps``), and after
every step a clamp into the valid image box in normalized space (``spec.box()``). Init
``N(0, 1)`` in normalized space. Restarts are run together by :func:`leakjax.attacks.run` and
the one with the lowest final matching cost (the distance **without** TV or other priors, as the
reference scores trials) is kept. Each restart returns its last iterate (inversefed, plato) or,
with ``select="best"``, its iterate with the lowest matching cost over all steps (breaching).

Defaults against the references (each preset, ``preset=...``, sets every row to that
reference's value; an argument passed explicitly overrides its preset's value):

==================  ==========  =================  ===============  ===============
argument            default     ``"breaching"``    ``"inversefed"`` ``"plato"``
==================  ==========  =================  ===============  ===============
``tv_weight``       1e-4 [1]_   0.2                0.1              0.01
``tv_variant``      inversefed  breaching          inversefed       inversefed
``lr``              0.1         0.1                0.1              0.1
``signed``          True [1]_   True ("hard")      False            True
``boxed``           True        True               True             True
``max_steps``       4800 [2]_   24000              4800             2000
``schedule``        multistep   multistep          multistep        multistep
``init``            randn       randn              randn            randn
``labels``          infer       infer              infer            given
``label_rule``      idlg        bias_corrected     idlg_weight      idlg_weight
``distance``        cosine      cosine             cosine           cosine
``distance_scale``  1           1                  1                1
``weighting``       equal       equal              equal            equal
``select``          last        best               last             last
==================  ==========  =================  ===============  ===============

.. [1] inversefed's command line (``reconstruct_image.py`` / ``inversefed/options.py``:
   ``--tv 1e-4``, ``--signed`` and ``--boxed`` are ``store_false`` flags, so both are on); its
   ConvNet notebooks use 1e-6. So the default is **not** any reference's library setting:
   use a preset to compare numbers with a reference.
.. [2] inversefed's library default (the command line runs 24000 steps).

Sources (the repositories' default branches, read for this table):

* ``"breaching"``: JonasGeiping/breaching ``breaching/config/attack/invertinggradients.yaml``
  (cosine-similarity objective, scale 1; 1 trial scored by cosine-similarity; Adam, signed
  "hard", step size 0.1, boxed, 24000 iterations, ``step-lr`` = the multistep schedule of
  ``breaching/attacks/auxiliaries/common.py``; TV scale 0.2, inner/outer exponent 1) on top of
  ``breaching/config/attack/_default_optimization_attack.yaml`` (init randn, label strategy
  ``bias-corrected`` when the labels are not given, no warm-up, no Langevin noise);
  TV: ``breaching/attacks/auxiliaries/regularizers.py``; best iterate:
  ``breaching/attacks/optimization_based_attack.py``. Breaching keeps the iterate *after* the
  step whose *pre-step* objective (matching cost **plus TV**) was the lowest; leakjax's
  ``select="best"`` keeps the iterate at which the matching cost (without TV) was measured.
* ``"inversefed"``: JonasGeiping/invertinggradients ``inversefed/reconstruction_algorithms.py``
  ``DEFAULT_CONFIG`` (signed False, boxed True, cost ``sim``, indices ``def``, weights
  ``equal``, lr 0.1, Adam, 1 restart, 4800 iterations, TV 0.1, init randn, lr decay on,
  scoring by loss), TV from ``inversefed/metrics.py``; the label, when not given and B = 1,
  is ``argmin_c sum_d g_W[c, d]`` (iDLG's weight-row rule); the trial's last iterate is kept.
* ``"plato"``: TL-System/plato ``examples/gradient_leakage_attacks/untrained_eval.yml``
  (``attack_method: csDLG``, cost ``sim``, TV 0.01, Adam lr 0.1, lr decay, equal weights,
  boxed, 2000 iterations, init randn, 1 trial; its ``*_delta`` configs run 8000) and
  ``dlg_server.py`` (csDLG uses the ground-truth labels and the sign of the gradient; the
  trial's final iterate is kept); TV from ``utils/helpers.py``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.attacks.base import SELECT_RULES, Attack
from leakjax.attacks.labels import LABEL_RULES, infer_labels
from leakjax.attacks.objectives import DISTANCES
from leakjax.attacks.priors import (
    TV_VARIANTS,
    bn_statistics_loss,
    group_consistency,
    has_bn_statistics,
    l2_norm,
)
from leakjax.fl.client import client_gradient
from leakjax.fl.local import LocalRecipe, local_update
from leakjax.fl.observe import apply_defense
from leakjax.types import DataSpec, Model, Observation, ThreatModel

LAYER_WEIGHTS = ("equal", "linear", "exp")

IG_PRESETS = {
    "breaching": dict(
        tv_weight=0.2,
        tv_variant="breaching",
        lr=0.1,
        signed=True,
        boxed=True,
        max_steps=24000,
        schedule="multistep",
        init="randn",
        label_rule="bias_corrected",
        distance="cosine",
        distance_scale=1.0,
        weighting="equal",
        select="best",
    ),
    "inversefed": dict(
        tv_weight=0.1,
        tv_variant="inversefed",
        lr=0.1,
        signed=False,
        boxed=True,
        max_steps=4800,
        schedule="multistep",
        init="randn",
        label_rule="idlg_weight",
        distance="cosine",
        distance_scale=1.0,
        weighting="equal",
        select="last",
    ),
    "plato": dict(
        tv_weight=0.01,
        tv_variant="inversefed",
        lr=0.1,
        signed=True,
        boxed=True,
        max_steps=2000,
        schedule="multistep",
        init="randn",
        labels="given",
        label_rule="idlg_weight",
        distance="cosine",
        distance_scale=1.0,
        weighting="equal",
        select="last",
    ),
}
"""Inverting Gradients settings of each reference (see the module docstring for the sources)."""
INITS = ("randn", "rand", "zeros")
SCHEDULES = ("multistep", "cosine", "constant")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _is_traced(v) -> bool:
    return isinstance(v, (jax.Array, jax.core.Tracer))


def _check_number(fn: str, name: str, v, *, positive: bool = False, allow_none: bool = False):
    if v is None and allow_none:
        return
    if _is_traced(v):
        return
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        raise TypeError(f"{fn}: {name}={v!r}, expected a number")
    if v < 0 or (positive and v == 0):
        raise ValueError(
            f"{fn}: {name}={v!r}, expected a {'positive' if positive else '>= 0'} number"
        )


def _check_choice(fn: str, name: str, v, choices):
    if v not in choices:
        raise ValueError(f"{fn}: {name}={v!r}, expected one of {tuple(choices)}")


def layer_weights(model: Model, scheme: str = "equal"):
    """Per-tensor weights for the gradient distance, a tree like ``model.params`` (or ``None``).

    ``"linear"``: ``(L - i) / L`` for the i-th tensor in module order (1 down to 1/L);
    ``"exp"``: ``softmax(L, L-1, ..., 1)`` (IG's options; 'equal' gives ``None``). Module order is
    :attr:`leakjax.Model.layer_order` (never the params dict's key order).
    """
    _check_choice("layer_weights", "scheme", scheme, LAYER_WEIGHTS)
    if not isinstance(model, Model):
        raise TypeError(
            f"layer_weights: model={type(model).__name__}, expected a leakjax Model (its "
            "layer_order gives the module order)"
        )
    if scheme == "equal":
        return None
    order = model.layer_order
    n = len(order)
    if scheme == "linear":
        w = np.arange(n, 0, -1, dtype=np.float64) / n
    else:
        z = np.arange(n, 0, -1, dtype=np.float64)
        w = np.exp(z - z.max()) / np.sum(np.exp(z - z.max()))
    by_path = {p: float(wi) for p, wi in zip(order, w)}

    def lookup(path, _):
        return by_path[tuple(getattr(k, "key", str(k)) for k in path)]

    return jax.tree_util.tree_map_with_path(lookup, model.params)


def multistep_schedule(lr, max_steps: int):
    """IG's MultiStepLR: ``lr * 0.1^(#milestones <= count)`` with milestones
    ``floor(N/2.667), floor(N/1.6), floor(N/1.142)``."""
    milestones = [math.floor(max_steps / d) for d in (2.667, 1.6, 1.142)]

    def schedule(count):
        drops = sum((count >= m).astype(jnp.float32) for m in milestones)
        return lr * jnp.power(0.1, drops)

    return schedule


class InvertingGradientsState(NamedTuple):
    """``x``: candidates ``(G, B, H, W, C)`` in model space; ``opt_state``; ``key`` for noise."""

    x: jax.Array
    opt_state: optax.OptState
    key: jax.Array


# --------------------------------------------------------------------------------------------
# the attack
# --------------------------------------------------------------------------------------------


def _with_preset(factory):
    """Apply ``IG_PRESETS[preset]`` under the explicitly passed arguments."""

    @functools.wraps(factory)
    def wrapper(model, *args, preset: str | None = None, **kwargs):
        if preset is not None:
            _check_choice(kwargs.get("name", "ig"), "preset", preset, IG_PRESETS)
            kwargs = {**IG_PRESETS[preset], **kwargs}
        return factory(model, *args, preset=preset, **kwargs)

    return wrapper


@_with_preset
def inverting_gradients(
    model: Model,
    *,
    spec: DataSpec,
    tv_weight=1e-4,
    lr=0.1,
    signed: bool = True,
    boxed: bool = True,
    max_steps: int = 4800,
    schedule: str = "multistep",
    warmup_steps: int = 0,
    init: str = "randn",
    labels: str = "infer",
    label_rule: str = "idlg",
    distance: str = "cosine",
    distance_scale=1.0,
    weighting: str = "equal",
    recipe: LocalRecipe | None = None,
    client_defense=None,
    remat: bool | str = "auto",
    bn_weight=None,
    bn_first_scale=10.0,
    l2_weight=None,
    group_size: int = 1,
    group_weight=None,
    noise_std=None,
    threat_model: ThreatModel | None = None,
    tol: float = 1e-6,
    name: str = "ig",
    tv_variant: str = "inversefed",
    select: str = "last",
    preset: str | None = None,
) -> Attack:
    """Inverting Gradients as an :class:`~leakjax.attacks.base.Attack`.

    Args:
      model: the client's model (in the same BatchNorm mode as the victim's).
      spec: the model's input normalization (the box and the [0, 1] mapping).
      tv_weight: total-variation weight (1e-4: the reference CLI; 1e-6 in its ConvNet notebook;
        1e-1 in its library default). Traceable.
      lr: Adam learning rate (0.1). Traceable.
      signed: Adam on ``sign(grad)`` (the reference CLI's default) instead of on the gradient.
      boxed: clamp into the valid image box in model space after every step.
      max_steps: N, the total number of steps the learning-rate schedule is built for (static).
      schedule: ``"multistep"`` (IG), ``"cosine"`` (with ``warmup_steps``; GradInversion as
        reproduced by breaching) or ``"constant"``.
      warmup_steps: linear warm-up steps for ``"cosine"``.
      init: ``"randn"`` (N(0, 1), IG), ``"rand"`` (U(-1, 1)) or ``"zeros"``.
      labels: ``"given"`` (``obs.labels``) or ``"infer"`` (``label_rule``; for a multi-step
        delta the rule reads ``-delta``, whose classifier part approximates a positive multiple
        of the summed gradients).
      label_rule: a name in :data:`leakjax.attacks.labels.LABEL_RULES`.
      distance: ``"cosine"`` (IG), ``"layer_cosine"``, ``"l2"`` or ``"mean_l2"``.
      distance_scale: multiplies the distance (GradInversion: 1e-4 on the L2 distance).
      weighting: per-layer weights ``"equal"``, ``"linear"`` or ``"exp"``.
      recipe: the local-training recipe the attacker assumes for ``kind="delta"``
        observations (``None``: ``threat_model.recipe``, else the Observation's).
      remat: rematerialize the unrolled local training: ``True``, ``False`` or ``"auto"``
        (default: only when the stored steps would exceed ``leakjax.fl.local.REMAT_AUTO_BYTES``;
        see :func:`leakjax.fl.local_update`). The same result to float32 rounding.
      client_defense: an adaptive attacker's imitation of the client's defense: a
        **deterministic** tier-1 transform (e.g. ``prune_by_magnitude(0.9)``, ``quantize``, or
        ``leakjax.fl.defended.as_defense_transform(simulation)``), applied inside the simulated
        client by the same mechanism as the real client's defense (per local step or on the
        update, as the assumed recipe's ``defense_placement`` or the defense's default says).
        Randomness is the client's secret, so the attacker's copy gets a fixed key. ``None``:
        the attacker simulates an undefended client.
      bn_weight: BatchNorm-statistics prior weight, ``None`` = off (needs a model with BN
        statistics; with a ``threat_model``, ``bn_stats_known=True``). Traceable.
      bn_first_scale: multiplier of the first BN layer's term (10 in DeepInversion).
      l2_weight: weight of ``||x||_2``; ``None`` = off. Traceable.
      group_size: G candidates optimized jointly per restart (static); the best by matching
        cost is returned.
      group_weight: group-consistency weight (unregistered mean of the G candidates); ``None``
        = off. Traceable.
      noise_std: std of Gaussian noise added to ``x`` after each step (GradInversion's
        Langevin-style noise); ``None`` = off. Traceable.
      threat_model: optional :class:`~leakjax.types.ThreatModel`; when given it sets ``labels``,
        ``label_rule`` and ``recipe`` and is checked against what the attack needs.
      tol: a run whose matching cost falls below ``tol`` counts as converged.
      name: record name.
      tv_variant: ``"inversefed"`` (mean over interior differences; inversefed, plato) or
        ``"breaching"`` (zero-padded stencil, one mean; breaching).
      select: ``"last"`` (inversefed, plato) or ``"best"`` iterate (breaching); see
        :func:`leakjax.attacks.run`.
      preset: ``"breaching"``, ``"inversefed"`` or ``"plato"``: every setting of the table in
        the module docstring at that reference's value (:data:`IG_PRESETS`); arguments passed
        explicitly override it. ``run`` it for the preset's ``max_steps`` (and ``restarts=1``)
        to reproduce the reference's protocol.

    Raises:
      ValueError: an invalid argument, or the threat model does not grant what is needed
        (labels, BatchNorm statistics, a matching BatchNorm mode).

    References:
      Geiping et al., "Inverting Gradients -- How easy is it to break privacy in federated
      learning?", NeurIPS 2020. Yin et al., "See through Gradients: Image Batch Recovery via
      GradInversion", CVPR 2021.
    """
    fn = name
    if threat_model is not None:
        if not isinstance(threat_model, ThreatModel):
            raise TypeError(f"{fn}: threat_model={threat_model!r}, expected a ThreatModel")
        if threat_model.labels == "optimize":
            raise ValueError(
                f"{fn}: threat_model.labels='optimize' is not supported (labels are given or "
                "inferred); use leakjax.attacks.dlg to optimize labels"
            )
        labels = threat_model.labels
        label_rule = threat_model.label_rule
        recipe = threat_model.recipe if threat_model.recipe is not None else recipe
        if model.bn_mode != "none" and threat_model.bn_mode != model.bn_mode:
            raise ValueError(
                f"{fn}: the model runs BatchNorm in {model.bn_mode!r} mode but "
                f"threat_model.bn_mode={threat_model.bn_mode!r}; build the attacker's model with "
                "the victim's BatchNorm mode and state it in the ThreatModel"
            )
        if bn_weight is not None and not threat_model.bn_stats_known:
            raise ValueError(
                f"{fn}: bn_weight is set (BatchNorm-statistics prior) but the threat model does "
                "not grant the running statistics (ThreatModel.bn_stats_known=False)"
            )
    _check_choice(fn, "labels", labels, ("given", "infer"))
    _check_choice(fn, "label_rule", label_rule, LABEL_RULES)
    _check_choice(fn, "distance", distance, DISTANCES)
    _check_choice(fn, "weighting", weighting, LAYER_WEIGHTS)
    _check_choice(fn, "init", init, INITS)
    _check_choice(fn, "schedule", schedule, SCHEDULES)
    _check_choice(fn, "tv_variant", tv_variant, TV_VARIANTS)
    _check_choice(fn, "select", select, SELECT_RULES)
    for nm, v in (("max_steps", max_steps), ("group_size", group_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{fn}: {nm}={v!r}, expected a positive integer")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"{fn}: warmup_steps={warmup_steps!r}, expected an integer >= 0")
    _check_number(fn, "tv_weight", tv_weight)
    _check_number(fn, "lr", lr, positive=True)
    _check_number(fn, "distance_scale", distance_scale, positive=True)
    _check_number(fn, "bn_first_scale", bn_first_scale)
    for nm, v in (
        ("bn_weight", bn_weight),
        ("l2_weight", l2_weight),
        ("group_weight", group_weight),
        ("noise_std", noise_std),
    ):
        _check_number(fn, nm, v, allow_none=True)
    if recipe is not None and not isinstance(recipe, LocalRecipe):
        raise TypeError(f"{fn}: recipe={recipe!r}, expected a leakjax.fl.LocalRecipe or None")
    if bn_weight is not None and not has_bn_statistics(model):
        raise ValueError(
            f"{fn}: bn_weight is set but model {model.name!r} exposes no BatchNorm statistics "
            "(model.extra['bn_stats_fn']); use convnet/resnet18/resnet20 from leakjax.models"
        )
    if group_weight is not None and group_size < 2:
        raise ValueError(f"{fn}: group_weight needs group_size >= 2, got group_size={group_size}")

    grad_fn = client_gradient(model)
    dist_fn = DISTANCES[distance]
    tv_fn = TV_VARIANTS[tv_variant]
    weights = layer_weights(model, weighting)
    shape = tuple(model.input_shape)
    lo, hi = spec.box()

    if schedule == "multistep":
        lr_fn = multistep_schedule(lr, max_steps)
    elif schedule == "cosine":
        lr_fn = optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps, max(max_steps, 1))
    else:
        lr_fn = optax.constant_schedule(lr)
    optimizer = optax.adam(lr_fn)

    def target_labels(obs: Observation):
        if labels == "given":
            if obs.labels is None:
                raise ValueError(
                    f"{fn}: labels='given' but the observation carries no labels; observe with "
                    "reveal_labels=True or infer them (labels='infer')"
                )
            return obs.labels.astype(jnp.int32)
        source = obs.update
        if obs.kind == "delta":
            source = jax.tree.map(jnp.negative, source)
        return infer_labels(model, source, rule=label_rule, batch_size=obs.batch_size)

    sim_key = jax.random.key(0)

    def simulate(obs: Observation, x, y):
        if obs.kind == "gradient":
            if client_defense is not None:
                return apply_defense(sim_key, client_defense, model, obs.params, x, y)
            return grad_fn(obs.params, x, y)
        if obs.kind == "delta":
            r = recipe if recipe is not None else obs.recipe
            if not isinstance(r, LocalRecipe):
                raise ValueError(
                    f"{fn}: the observation is a multi-step delta but no LocalRecipe is known; "
                    "pass recipe= (or ThreatModel.recipe), or observe with "
                    "leakjax.fl.observe_update"
                )
            return local_update(
                model,
                r,
                obs.params,
                x,
                y,
                remat=remat,
                defense=client_defense,
                key=sim_key if client_defense is not None else None,
            )
        raise ValueError(f"{fn}: obs.kind={obs.kind!r}, expected 'gradient' or 'delta'")

    def match_cost(obs, x, y):
        return distance_scale * dist_fn(simulate(obs, x, y), obs.update, weights)

    def candidate_objective(x, obs, y):
        cost = match_cost(obs, x, y)
        total = cost + tv_weight * tv_fn(x)
        if bn_weight is not None:
            total = total + bn_weight * bn_statistics_loss(model, obs.params, x, bn_first_scale)
        if l2_weight is not None:
            total = total + l2_weight * l2_norm(x)
        return total, cost

    def objective(xs, obs, y):
        if group_size == 1:  # no vmap: XLA:CPU batches conv weight gradients poorly
            total, cost = candidate_objective(xs[0], obs, y)
            return total, cost[None]
        totals, costs = jax.vmap(lambda x: candidate_objective(x, obs, y))(xs)
        total = jnp.sum(totals)
        if group_weight is not None:
            total = total + group_weight * jnp.sum(group_consistency(xs))
        return total, costs

    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def init_fn(key, obs):
        kx, kn = jax.random.split(key)
        full = (group_size, obs.batch_size, *shape)
        if init == "randn":
            x = jax.random.normal(kx, full, jnp.float32)
        elif init == "rand":
            x = jax.random.uniform(kx, full, jnp.float32, -1.0, 1.0)
        else:
            x = jnp.zeros(full, jnp.float32)
        return InvertingGradientsState(x=x, opt_state=optimizer.init(x), key=kn)

    def step(state, obs):
        y = target_labels(obs)
        (_, costs), g = value_and_grad(state.x, obs, y)
        if signed:
            g = jnp.sign(g)
        updates, opt_state = optimizer.update(g, state.opt_state, state.x)
        x = optax.apply_updates(state.x, updates)
        key = state.key
        if noise_std is not None:
            key, kn = jax.random.split(key)
            x = x + noise_std * jax.random.normal(kn, x.shape, x.dtype)
        if boxed:
            x = jnp.clip(x, lo, hi)
        return InvertingGradientsState(x=x, opt_state=opt_state, key=key), jnp.min(costs)

    def result(state, obs):
        y = target_labels(obs)
        if group_size == 1:
            return state.x[0], y, match_cost(obs, state.x[0], y)
        costs = jax.vmap(lambda x: match_cost(obs, x, y))(state.x)
        best = jnp.argmin(jnp.where(jnp.isfinite(costs), costs, jnp.inf))
        return state.x[best], y, costs[best]

    return Attack(
        init=init_fn,
        step=step,
        result=result,
        spec=spec,
        tol=tol,
        early_stop=False,
        name=name,
        select=select,
    )


def gradinversion(
    model: Model,
    *,
    spec: DataSpec,
    max_steps: int = 20000,
    lr=0.1,
    tv_weight=1e-4,
    l2_weight=1e-6,
    bn_weight=0.1,
    group_size: int = 4,
    group_weight=0.01,
    noise_std=0.01,
    distance_scale=1e-4,
    label_rule: str = "yin",
    labels: str = "infer",
    threat_model: ThreatModel | None = None,
    **kwargs,
) -> Attack:
    """GradInversion (Yin et al., CVPR 2021) on the IG machinery (card 5).

    Defaults are breaching's reproduction values: L2 gradient distance scaled by 1e-4, TV 1e-4,
    ``||x||`` 1e-6, BatchNorm prior 0.1 (first layer x10), Adam lr 0.1 with 50 warm-up steps and
    cosine decay, unsigned, boxed, noise 0.01 per step, labels by Yin's rule, and the best
    iterate over all steps (``select="best"``, breaching's rule). The group term (G =
    4 candidates, weight 0.01, an unregistered mean: the paper registers candidates with
    RANSAC-flow) is on; set ``group_weight=None`` to drop it. Threat model: the server knows the
    BatchNorm running statistics (``ThreatModel(bn_stats_known=True)``) and the victim ran
    BatchNorm in train mode (build the model with ``bn_mode="train"``).
    """
    kwargs.setdefault("signed", False)
    kwargs.setdefault("schedule", "cosine")
    kwargs.setdefault("warmup_steps", min(50, max_steps // 2))
    kwargs.setdefault("distance", "l2")
    kwargs.setdefault("name", "gradinversion")
    kwargs.setdefault("select", "best")  # breaching's optimization attacks keep the best iterate
    return inverting_gradients(
        model,
        spec=spec,
        max_steps=max_steps,
        lr=lr,
        tv_weight=tv_weight,
        l2_weight=l2_weight,
        bn_weight=bn_weight,
        group_size=group_size,
        group_weight=group_weight,
        noise_std=noise_std,
        distance_scale=distance_scale,
        label_rule=label_rule,
        labels=labels,
        threat_model=threat_model,
        **kwargs,
    )
