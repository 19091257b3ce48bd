"""Multi-step local training (FedAvg clients) and the weight update the server sees.

Production FL clients do not share one gradient: they run E local epochs over their n samples in
mini-batches of B with an optimizer (SGD with momentum, weight decay, a learning-rate schedule)
and share the weight change ``delta = theta_after - theta_before`` (Geiping et al. NeurIPS 2020,
"FedAvg" experiments; Wang et al. INFOCOM 2023, Outpost). :func:`local_update` is *the* definition
of that training: the client calls it to produce the update and the attacker calls the same
function on dummy data inside its objective, differentiating through all the local steps.

Batch order (deterministic, documented): no shuffling. Epoch ``e`` visits the samples in their
given order in ``ceil(n / B)`` consecutive mini-batches; the last one is partial when B does not
divide n (PyTorch ``DataLoader(shuffle=False, drop_last=False)``), and its loss is the mean over
the samples it holds. ``B >= n`` means full-batch steps. Each mini-batch loss is the batch-mean
cross-entropy (card 0.1).

Optimizer (``recipe.optimizer``): ``"sgd"`` is PyTorch's SGD (``buf = momentum * buf + g +
weight_decay * theta; theta -= lr_t * buf``), i.e. ``optax.chain(add_decayed_weights(wd),
sgd(schedule, momentum))``; ``"adam"`` is PyTorch Adam with L2 weight decay added to the gradient.

Unrolling: the steps run in a ``lax.scan``. With ``remat=True`` the scan is nested in two levels
(``ceil(sqrt(K))`` segments of ``ceil(sqrt(K))`` steps, each step and each segment wrapped in
``jax.checkpoint``), so the reverse pass through K steps stores O(sqrt K) parameter-sized carries
and recomputes the rest (memory in ``benchmarks/fedavg_memory.py``); ``remat=False`` stores every
step's residuals (linear in K, fastest: rematerializing computes each step's forward pass three
times). ``remat="auto"`` (the default) rematerializes only when the stored residuals of the K
steps (their size from a shape-only trace of one step's linearization) would exceed
:data:`REMAT_AUTO_BYTES`. All three give the same update to float32 rounding.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from leakjax.fl.client import check_images, check_labels, client_gradient
from leakjax.fl.defended import ClientDefense, check_placement
from leakjax.fl.observe import check_defense_key, describe_defense
from leakjax.types import DataSpec, Model, Observation, Params, PRNGKey

SCHEDULES = ("constant", "cosine", "linear")
REMAT_AUTO_BYTES = 1 << 30
"""``remat="auto"`` stores every local step's residuals up to this many bytes (1 GiB)."""
OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class LocalRecipe:
    """How a client trains locally (hashable: it is static metadata of an Observation).

    Attributes:
      epochs: local epochs E (passes over the client's n samples), >= 1.
      batch_size: mini-batch size B (``B >= n`` means one full-batch step per epoch).
      lr: local learning rate (peak value of the schedule).
      momentum: SGD momentum (PyTorch convention); beta1 for Adam is 0.9 regardless.
      weight_decay: L2 coefficient added to the gradient (PyTorch ``weight_decay``).
      schedule: ``"constant"``, ``"cosine"`` (decay to 0 over all local steps) or ``"linear"``
        (linear decay to 0).
      optimizer: ``"sgd"`` or ``"adam"``.
      defense_placement: where the client's tier-1 defense acts: ``"step"`` (every local step's
        gradient, which then drives that step), ``"update"`` (once on the shared update) or
        ``None`` (the defense's own default, see :mod:`leakjax.defenses.placement`). Tier-2
        defenses always act per step.
    """

    epochs: int = 1
    batch_size: int = 1
    lr: float = 1e-4
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"
    optimizer: str = "sgd"
    defense_placement: str | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"LocalRecipe: {name}={v!r}, expected a positive integer")
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float, np.floating, np.integer))
                or not np.isfinite(v)
                or v < 0
            ):
                raise ValueError(f"LocalRecipe: {name}={v!r}, expected a finite float >= 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"LocalRecipe: schedule={self.schedule!r}, expected one of {SCHEDULES}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"LocalRecipe: optimizer={self.optimizer!r}, expected one of {OPTIMIZERS}"
            )
        check_placement("LocalRecipe", self.defense_placement)

    def steps_per_epoch(self, num_samples: int) -> int:
        return math.ceil(num_samples / min(self.batch_size, num_samples))

    def num_steps(self, num_samples: int) -> int:
        """Total local optimizer steps for ``num_samples`` samples."""
        return self.epochs * self.steps_per_epoch(num_samples)

    def replace(self, **changes) -> LocalRecipe:
        return dataclasses.replace(self, **changes)


def local_optimizer(recipe: LocalRecipe, num_steps: int) -> optax.GradientTransformation:
    """The optax optimizer the client uses (see the module docstring)."""
    if recipe.schedule == "constant":
        lr = recipe.lr
    elif recipe.schedule == "cosine":
        lr = optax.cosine_decay_schedule(recipe.lr, max(num_steps, 1))
    else:
        lr = optax.linear_schedule(recipe.lr, 0.0, max(num_steps, 1))
    wd = optax.add_decayed_weights(recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return optax.chain(wd, optax.sgd(lr, momentum=recipe.momentum or None))
    return optax.chain(wd, optax.adam(lr))


def batch_plan(recipe: LocalRecipe, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Static ``(index, weight)`` arrays of shape ``(steps, b)``: which samples each step uses.

    ``b = min(B, n)``; a partial last batch is padded with index 0 and weight 0.
    """
    b = min(recipe.batch_size, num_samples)
    per_epoch = recipe.steps_per_epoch(num_samples)
    idx = np.zeros((per_epoch, b), np.int32)
    wts = np.zeros((per_epoch, b), np.float32)
    for s in range(per_epoch):
        chunk = np.arange(s * b, min((s + 1) * b, num_samples))
        idx[s, : len(chunk)] = chunk
        wts[s, : len(chunk)] = 1.0
    return np.tile(idx, (recipe.epochs, 1)), np.tile(wts, (recipe.epochs, 1))


def _weighted_ce(logits, labels, w):
    if labels.ndim == logits.ndim:
        ce = optax.softmax_cross_entropy(logits, labels)
    else:
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(w * ce) / jnp.sum(w)


def update_scale(recipe: LocalRecipe, num_steps: int) -> float:
    """``lr * K``: the factor between the shared delta and its mean pseudo-gradient
    ``u = -delta / (lr * K)`` (exact for K plain SGD steps; 1 when ``lr == 0``)."""
    return float(recipe.lr) * num_steps if recipe.lr > 0 else 1.0


def local_update(
    model: Model,
    recipe: LocalRecipe,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    *,
    remat: bool | str = "auto",
    defense=None,
    key: PRNGKey | None = None,
    defense_state=None,
    return_state: bool = False,
):
    """Run the client's local training and return ``delta = theta_after - theta_before``.

    Differentiable with respect to ``x`` (and soft labels ``y``): attacks call it on dummy data.

    Args:
      model: the shared model.
      recipe: the local-training recipe (its ``defense_placement`` says where ``defense`` acts).
      params: the parameters the client starts from.
      x: the client's n samples in the model's input space, ``(n, H, W, C)``.
      y: integer labels ``(n,)`` or soft labels ``(n, C)``.
      remat: rematerialize (two-level checkpointed scan, O(sqrt K) memory for K steps), not
        (``False``), or ``"auto"``: only when the K steps' residuals would exceed
        :data:`REMAT_AUTO_BYTES` (the module docstring).
      defense: ``None``, a tier-1 ``optax.GradientTransformation``, a tier-2 defense or a tier-2
        + tier-1 chain (:mod:`leakjax.fl.defended`). Per step, the defended gradient drives that
        step and the tier-1 state is carried through the scan; on the update, the tier-1 part
        acts once on the pseudo-gradient ``u = -delta / (lr * K)`` and the server sees
        ``-lr * K * u'``. An attacker imitating a deterministic defense passes its simulation
        here (:func:`leakjax.fl.defended.as_defense_transform`).
      key: PRNG key of this round; drives every random choice of the defense (required when a
        defense is given). Same key, same output.
      defense_state: the tier-1 state to continue from (a FedAvg client's state from its previous
        round); its keys are replaced by ones derived from ``key``. ``None``: a fresh state.
      return_state: also return the tier-1 state after the round.

    Returns:
      The weight change, a tree like ``params`` (and the defense state if ``return_state``).
    """
    n = x.shape[0]
    idx, wts = batch_plan(recipe, n)
    k = idx.shape[0]
    opt = local_optimizer(recipe, k)
    cd = ClientDefense.build(defense, recipe.defense_placement, fn="local_update")
    if cd.active:
        check_defense_key("local_update", key)
    if cd.tier2 is not None and not np.all(wts == 1.0):
        raise ValueError(
            f"local_update: a tier-2 defense acts on whole local batches, but batch_size="
            f"{recipe.batch_size} does not divide the client's n={n} samples (the last batch "
            "would be partial); choose a batch size that divides n"
        )
    dstate = cd.init(key, params, defense_state) if cd.active else ()
    wrapped = cd.tier2.wrap(model, client_gradient(model)) if cd.tier2 is not None else None

    def loss(p, xb, yb, wb):
        return _weighted_ce(model.apply_fn(p, xb), yb, wb)

    grad = jax.grad(loss)

    def step(carry, plan):
        p, s, ds = carry
        i, w, active, t = plan
        if wrapped is not None:
            g = wrapped(cd.step_key(key, t), p, x[i], y[i])
        else:
            g = grad(p, x[i], y[i], w)
        ds2 = ds
        if cd.per_step_tier1:
            g, ds2 = cd.tier1.update(g, ds, p)
        u, s2 = opt.update(g, s, p)
        p2 = optax.apply_updates(p, u)
        # padded (inactive) steps of the two-level plan leave the carry unchanged
        keep = lambda a, b: jnp.where(active, a, b)  # noqa: E731
        return (
            jax.tree.map(keep, p2, p),
            jax.tree.map(keep, s2, s),
            jax.tree.map(keep, ds2, ds),
        ), None

    carry = (params, opt.init(params), dstate)
    if remat == "auto":
        remat = k > 1 and k * _step_residual_bytes(grad, params, x, y, idx, wts) > REMAT_AUTO_BYTES
    elif not isinstance(remat, bool):
        raise ValueError(f"local_update: remat={remat!r}, expected True, False or 'auto'")
    active = np.ones((k,), bool)
    steps = np.arange(k, dtype=np.int32)
    if not remat:
        (p_final, _, dstate), _ = lax.scan(step, carry, (idx, wts, active, steps))
    else:
        seg = max(1, math.ceil(math.sqrt(k)))
        nseg = math.ceil(k / seg)
        pad = nseg * seg - k
        idx_p = np.concatenate([idx, np.zeros((pad, idx.shape[1]), idx.dtype)])
        wts_p = np.concatenate([wts, np.ones((pad, wts.shape[1]), wts.dtype)])
        act_p = np.concatenate([active, np.zeros((pad,), bool)])
        steps_p = np.concatenate([steps, np.zeros((pad,), np.int32)])
        plan = tuple(a.reshape(nseg, seg, *a.shape[1:]) for a in (idx_p, wts_p, act_p, steps_p))
        inner_step = jax.checkpoint(step)

        @jax.checkpoint
        def segment(c, seg_plan):
            c, _ = lax.scan(inner_step, c, seg_plan)
            return c, None

        (p_final, _, dstate), _ = lax.scan(segment, carry, plan)
    delta = jax.tree.map(lambda a, b: a - b, p_final, params)
    if cd.on_update_tier1:
        scale = update_scale(recipe, k)
        u = jax.tree.map(lambda d: -d / scale, delta)
        u, dstate = cd.on_update(dstate, params, u)
        delta = jax.tree.map(lambda v: -scale * v, u)
    return (delta, dstate) if return_state else delta


def _step_residual_bytes(grad, params, x, y, idx, wts) -> int:
    """Bytes a reverse pass stores for one local step: the residuals of the linearization of the
    step's gradient with respect to the parameters and the inputs (a shape-only trace)."""

    def spec(a):
        return jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a))

    i, w = idx[0], wts[0]

    def residuals(p, xs, ys):
        return jax.vjp(lambda p, xb: grad(p, xb, ys[i], w), p, xs[i])[1]

    shapes = jax.eval_shape(residuals, jax.tree.map(spec, params), spec(x), spec(y))
    return int(sum(math.prod(s.shape) * np.dtype(s.dtype).itemsize for s in jax.tree.leaves(shapes)))


def observe_update(
    key: PRNGKey,
    model: Model,
    images: jax.Array,
    labels: jax.Array,
    *,
    spec: DataSpec,
    recipe: LocalRecipe,
    params: Params | None = None,
    defense=None,
    defense_state=None,
    reveal_labels: bool = False,
) -> Observation:
    """One FedAvg client round: the server sees the (defended) weight change of local training.

    Args:
      key: PRNG key of this round; drives the defense's randomness (same key, same output).
      model: the shared model.
      images: float32 NHWC in **[0, 1]**, ``(n, *model.input_shape)``: all the client's samples.
      labels: integer labels ``(n,)``.
      spec: how images are normalized into the model's input space.
      recipe: the client's :class:`LocalRecipe` (``defense_placement``: where the defense acts).
      params: the server's params (defaults to ``model.params``).
      defense: ``None``, a tier-1 optax transform, a tier-2 defense or a chain of both, applied
        as :func:`local_update` documents (per local step or on the shared update).
      defense_state: tier-1 state to continue from (e.g. a FedAvg client's at round t).
      reveal_labels: put the true labels into the Observation.

    Returns:
      An :class:`Observation` with ``kind="delta"``, ``local_steps`` = total local steps and
      ``recipe`` = the client's recipe, ``batch_size`` = n.
    """
    if not isinstance(recipe, LocalRecipe):
        raise TypeError(f"observe_update: recipe={recipe!r}, expected a leakjax.fl.LocalRecipe")
    images = jnp.asarray(images, jnp.float32)
    labels = jnp.asarray(labels)
    check_images(images, model.input_shape)
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"observe_update: labels shape {labels.shape}, expected ({images.shape[0]},)"
        )
    check_labels(labels, model.num_classes)
    params = model.params if params is None else params
    delta = local_update(
        model,
        recipe,
        params,
        spec.normalize(images),
        labels,
        defense=defense,
        key=key,
        defense_state=defense_state,
    )
    n = int(images.shape[0])
    return Observation(
        update=delta,
        params=params,
        labels=labels if reveal_labels else None,
        batch_size=n,
        kind="delta",
        local_steps=recipe.num_steps(n),
        recipe=recipe,
        defense=describe_defense(defense),
    )
