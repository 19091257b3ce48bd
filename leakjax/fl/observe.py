"""``observe``: run one client round and return what the server sees (an Observation).

``observe`` takes images; ``observe_text`` takes token ids of a text model. Both share
:func:`apply_defense`, so every defense applies to both unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from leakjax.fl.client import check_images, check_labels, client_gradient
from leakjax.fl.defended import ClientDefense
from leakjax.types import DataSpec, Model, Observation, Params, PRNGKey


def describe_defense(defense: Any) -> str:
    if defense is None:
        return ""
    return str(getattr(defense, "description", None) or type(defense).__name__)


def check_defense_key(fn: str, key) -> None:
    """A defense needs the round's typed PRNG key: it drives all of the defense's randomness."""
    if not (
        isinstance(key, jax.Array | jax.core.Tracer)
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    ):
        raise TypeError(
            f"{fn}: key={key!r} is not a typed PRNG key; a defense is given and the round's key "
            "drives its randomness: pass jax.random.key(seed)"
        )


def apply_defense(
    key: PRNGKey,
    defense: Any,
    model: Model,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    *,
    defense_state: Any = None,
):
    """The (defended) batch-mean gradient the client shares, for one batch in model space.

    ``defense`` is ``None``, a tier-1 ``optax.GradientTransformation``, a tier-2 defense (wraps
    the gradient function) or a tier-2 + tier-1 chain. With one gradient both placements of a
    tier-1 defense coincide. ``key`` drives every random choice (:mod:`leakjax.fl.defended`): the
    tier-1 state is created (or ``defense_state`` continued) with keys derived from it, so the
    same defense object gives fresh noise for each key and the same output for the same key.
    The derivation matches :func:`leakjax.fl.local_update`'s for its first step, so one local
    SGD step sees exactly this gradient.
    """
    grad_fn = client_gradient(model)
    if defense is None:
        return grad_fn(params, x, y)
    cd = ClientDefense.build(defense, fn="apply_defense")
    check_defense_key("apply_defense", key)
    if cd.tier2 is not None:
        g = cd.tier2.wrap(model, grad_fn)(cd.step_key(key, 0), params, x, y)
    else:
        g = grad_fn(params, x, y)
    if cd.tier1 is not None:
        g, _ = cd.tier1.update(g, cd.init(key, params, defense_state), params)
    return g


def observe(
    key: PRNGKey,
    model: Model,
    images: jax.Array,
    labels: jax.Array,
    *,
    spec: DataSpec,
    params: Params | None = None,
    defense: Any = None,
    defense_state: Any = None,
    reveal_labels: bool = False,
) -> Observation:
    """One FedSGD client round: the server's view of a client holding ``(images, labels)``.

    Args:
      key: PRNG key of this round; drives the defense's randomness (same key, same output;
        a defense object reused with other keys draws fresh noise).
      model: the shared model.
      images: float32 NHWC in **[0, 1]**, shape ``(B, *model.input_shape)``.
      labels: integer labels ``(B,)``.
      spec: how images are normalized into the model's input space.
      params: the server's params (defaults to ``model.params``).
      defense: ``None``, a tier-1 optax transform or a tier-2 grad-fn defense.
      defense_state: tier-1 state to continue from (``None``: fresh).
      reveal_labels: put the true labels into the Observation (threat model "labels given").

    Returns:
      An :class:`Observation` with ``kind="gradient"`` (the batch-mean gradient, defended).
    For multi-step local training use :func:`leakjax.fl.observe_update`.
    """
    images = jnp.asarray(images, jnp.float32)
    labels = jnp.asarray(labels)
    check_images(images, model.input_shape)
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"labels: shape {labels.shape}, expected ({images.shape[0]},), one integer per image"
        )
    check_labels(labels, model.num_classes)
    params = model.params if params is None else params
    x = spec.normalize(images)
    update = apply_defense(key, defense, model, params, x, labels, defense_state=defense_state)
    return Observation(
        update=update,
        params=params,
        labels=labels if reveal_labels else None,
        batch_size=int(images.shape[0]),
        kind="gradient",
        local_steps=1,
        defense=describe_defense(defense),
    )


def observe_text(
    key: PRNGKey,
    model: Model,
    token_ids,
    labels=None,
    *,
    params: Params | None = None,
    defense: Any = None,
    defense_state: Any = None,
    reveal_labels: bool = False,
) -> Observation:
    """One FedSGD round of a client holding token sequences: what the server sees.

    The text counterpart of :func:`observe`: the same batch-mean cross-entropy gradient and
    the same :func:`apply_defense`, so every tier-1 defense and DP-SGD apply to text models
    unchanged. The update contains the token-embedding table's gradient (non-zero only in the
    rows of the tokens present, for an untied model).

    Args:
      key: PRNG key of this round (drives the defense's randomness).
      model: a text model (:func:`leakjax.models.transformer_lm` / ``transformer3`` /
        ``transformer_classifier``).
      token_ids: int ``(B, T)`` with ``T <= context`` and ids in ``[0, vocab_size)``.
      labels: for a classifier, class ids ``(B,)``; for a language model leave ``None``: its
        labels are the next tokens, ``token_ids[:, 1:]``.
      params: the server's params (default ``model.params``).
      defense: ``None``, a tier-1 optax transform or a tier-2 grad-fn defense (as ``observe``).
      defense_state: tier-1 state to continue from (``None``: fresh).
      reveal_labels: put the labels (LM: the ``(B, T - 1)`` next tokens) into the Observation.

    Returns:
      An :class:`Observation` (``kind="gradient"``) whose update has the params' structure.

    Raises:
      ValueError: a model that is not a text model, ids longer than the context or outside the
        vocabulary, labels given to an LM, or class ids out of range.
    """
    from leakjax.models.transformer import check_text_model, check_token_ids, lm_labels

    check_text_model("observe_text", model)
    check_token_ids(token_ids, model, name="token_ids")
    token_ids = jnp.asarray(token_ids, jnp.int32)
    b = int(token_ids.shape[0])
    if model.extra["task"] == "causal_lm":
        if labels is not None:
            raise ValueError(
                "observe_text: labels given for a language model; its labels are the next "
                "tokens token_ids[:, 1:], pass labels=None"
            )
        labels = lm_labels(token_ids)
    else:
        if labels is None:
            raise ValueError("observe_text: a classifier needs labels, integer class ids (B,)")
        labels = jnp.asarray(labels)
        if labels.shape != (b,):
            raise ValueError(
                f"labels: shape {labels.shape}, expected ({b},), one class per sequence"
            )
        check_labels(labels, model.num_classes)
    params = model.params if params is None else params
    update = apply_defense(
        key, defense, model, params, token_ids, labels, defense_state=defense_state
    )
    return Observation(
        update=update,
        params=params,
        labels=labels if reveal_labels else None,
        batch_size=b,
        kind="gradient",
        local_steps=1,
        defense=describe_defense(defense),
    )
