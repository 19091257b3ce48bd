"""What the text attacks share: the client round on token ids, the simulated gradient on
embeddings, the matched layers, and nearest-token decoding.

**The shared update and the embedding layer.** The client (``leakjax.fl``'s batch-mean CE,
unchanged) differentiates its model from token *ids*, so the server sees the gradient of every
parameter, the token-embedding table ``E`` included: row ``v`` of ``dL/dE`` is the sum of
``dL/de_p`` over the positions ``p`` holding token ``v``, and exactly zero for every token not in
the batch (untied head). The attacker optimizes continuous embeddings ``e`` ``(B, T, D)`` and
simulates the client with :func:`leakjax.models.embedding_model`, where ``E`` is not used: its
simulated table gradient is identically zero, whatever ``e`` is. Matching it would only add the
constant ``||g*_E||^2`` to the distance, so the text attacks **leave the token-embedding leaf out
of the matching distance**, as breaching's ``text_strategy="run-embedding"`` does (it removes that
gradient from the shared list and replaces the embedding module by the identity). The
information in ``g*_E`` is used separately: :mod:`leakjax.attacks.token_set` reads the bag of
tokens from its non-zero rows, and the optimizing attacks can restrict their decoding to that
set (``restrict_tokens=True``). (A soft one-hot relaxation ``e = softmax(z) E`` would make the
table gradient matchable, at ``B*T*V`` unknowns; not implemented.)

For a tied model the table is also the output layer: the leaf left out then also drops the
output-side gradient of ``E``; the other leaves are still matched.

``observe_text`` (the text counterpart of :func:`leakjax.fl.observe`, which takes images) lives in
:mod:`leakjax.fl.observe` and is re-exported here: it runs the same
:func:`leakjax.fl.observe.apply_defense` on token ids, so every tier-1 defense and DP-SGD apply to
text models unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack, check_observation, flat_optimizer_attack
from leakjax.attacks.optim import TorchLBFGS
from leakjax.attacks.token_set import TOKEN_RULES, check_choice, recover_tokens
from leakjax.fl.client import client_gradient
from leakjax.fl.observe import observe_text  # noqa: F401 - re-exported (it moved to fl)
from leakjax.models.transformer import (
    check_text_model,
    embedding_model,
    layer_order,
    token_embedding,
)
from leakjax.types import Model, Observation, PRNGKey, PyTreePath, get_path

DECODE_METRICS = ("cosine", "l2")
TEXT_LABEL_MODES = ("optimize", "given")


def check_seq_len(fn: str, model: Model, seq_len) -> int:
    context = model.extra["context"]
    if seq_len is None:
        return int(context)
    lo = 2 if model.extra["task"] == "causal_lm" else 1
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or not lo <= seq_len <= context:
        raise ValueError(
            f"{fn}: seq_len={seq_len!r}, expected an integer in [{lo}, {context}] (the model's "
            f"context is {context} positions)"
        )
    return int(seq_len)


def matched_paths(model: Model) -> tuple[PyTreePath, ...]:
    """Param paths in module order, without the token-embedding table (see module docstring)."""
    tok = tuple(model.extra["token_embedding_path"])
    return tuple(p for p in layer_order(model) if tuple(p) != tok)


def leaves_at(tree, paths) -> list[jax.Array]:
    return [get_path(tree, p, what="layer_order path") for p in paths]


def label_shape(model: Model, batch_size: int, seq_len: int) -> tuple[int, ...]:
    """Shape of the unknown label logits: LM ``(B, T - 1, V)``, classifier ``(B, C)``."""
    if model.extra["task"] == "causal_lm":
        return (batch_size, seq_len - 1, model.num_classes)
    return (batch_size, model.num_classes)


def simulated_gradient(model: Model):
    """``fn(params, embeddings, labels) -> grads``: the client's gradient on embeddings."""
    return client_gradient(embedding_model(model))


def given_labels(fn: str, model: Model, obs: Observation, seq_len: int) -> jax.Array:
    if obs.labels is None:
        raise ValueError(
            f"{fn}: labels='given' but the observation carries no labels; build it with "
            "observe_text(..., reveal_labels=True) or use labels='optimize'"
        )
    want = label_shape(model, obs.batch_size, seq_len)[:-1]
    if tuple(obs.labels.shape) != want:
        raise ValueError(
            f"{fn}: observation labels have shape {tuple(obs.labels.shape)}, expected {want}"
        )
    return obs.labels.astype(jnp.int32)


def nearest_tokens(
    embeddings: jax.Array, table: jax.Array, *, metric: str = "cosine", allowed=None
) -> jax.Array:
    """Token id of the row of ``table`` ``(V, D)`` nearest to each embedding ``(..., D)``.

    ``metric="cosine"`` (largest cosine similarity; breaching's ``from-embedding`` decoding
    uses a similarity) or ``"l2"`` (smallest Euclidean distance). ``allowed`` is an optional
    ``(V,)`` boolean mask of candidate tokens (token-set-restricted decoding); when it is empty
    every token is allowed.
    """
    e = embeddings.astype(jnp.float32)
    w = table.astype(jnp.float32)
    if metric == "cosine":
        en = e / (jnp.linalg.norm(e, axis=-1, keepdims=True) + 1e-12)
        wn = w / (jnp.linalg.norm(w, axis=-1, keepdims=True) + 1e-12)
        score = en @ wn.T
    elif metric == "l2":
        score = -(jnp.sum(e * e, -1, keepdims=True) - 2 * e @ w.T + jnp.sum(w * w, -1))
    else:
        raise ValueError(f"nearest_tokens: metric={metric!r}, expected one of {DECODE_METRICS}")
    if allowed is not None:
        allowed = jnp.asarray(allowed, bool)
        allowed = jnp.where(jnp.any(allowed), allowed, True)
        score = jnp.where(allowed, score, -jnp.inf)
    return jnp.argmax(score, axis=-1).astype(jnp.int32)


def decode_embeddings(model: Model, embeddings, params, *, metric="cosine", allowed=None):
    return nearest_tokens(
        embeddings, token_embedding(model, params), metric=metric, allowed=allowed
    )


def embedding_attack(
    model: Model,
    *,
    fn: str,
    name: str,
    seq_len: int | None,
    labels: str,
    distance: Callable[[list, list], jax.Array],
    optimizer: TorchLBFGS | optax.GradientTransformation,
    init_embeddings: Callable[[PRNGKey, tuple], jax.Array],
    init_labels: Callable[[PRNGKey, tuple], jax.Array],
    decode: str,
    restrict_tokens: bool,
    token_rule: str,
    token_cutoff,
    tol: float,
    early_stop: bool,
) -> Attack:
    """An optimizing text attack: continuous embeddings ``(B, T, D)`` and, with
    ``labels="optimize"``, label logits (LM ``(B, T - 1, V)``, classifier ``(B, C)``) whose
    softmax is the soft label; ``distance(simulated_leaves, observed_leaves)`` over
    :func:`matched_paths`; decoded to the nearest token embedding (``decode``), optionally
    restricted to the tokens :func:`leakjax.attacks.token_set.recover_tokens` finds.

    The flat vector holds the embeddings first, then the label logits (see
    :func:`per_example_sizes`). ``AttackResult``: ``inputs`` int32 token ids ``(B, T)``,
    ``labels`` the argmax of the soft labels (LM ``(B, T - 1)`` next tokens, classifier
    ``(B,)``), ``raw_inputs`` the optimized embeddings ``(B, T, D)``. For a causal LM the last
    position's embedding gets no gradient (its output is dropped and the mask hides it from
    the others), so it is replaced by the embedding of the recovered last label, the token
    that position holds.
    """
    check_text_model(fn, model)
    t = check_seq_len(fn, model, seq_len)
    check_choice(fn, "labels", labels, TEXT_LABEL_MODES)
    check_choice(fn, "decode", decode, DECODE_METRICS)
    check_choice(fn, "token_rule", token_rule, TOKEN_RULES)
    if restrict_tokens and model.extra.get("tied"):
        raise ValueError(
            f"{fn}: restrict_tokens=True needs an untied model; model={model.name!r} ties its "
            "token embedding to the head"
        )
    grad_fn = simulated_gradient(model)
    paths = matched_paths(model)
    d = int(model.extra["d_model"])
    optimize = labels == "optimize"

    def shapes(b):
        e_shape = (b, t, d)
        return e_shape, (label_shape(model, b, t) if optimize else None)

    def sample_init(key, obs):
        check_observation(model, obs)
        ke, kz = jax.random.split(key)
        e_shape, z_shape = shapes(obs.batch_size)
        e = init_embeddings(ke, e_shape)
        if optimize:
            return e, init_labels(kz, z_shape)
        return (e,)

    def unravel(flat, obs):
        e_shape, z_shape = shapes(obs.batch_size)
        n = math.prod(e_shape)
        e = flat[:n].reshape(e_shape)
        z = flat[n:].reshape(z_shape) if optimize else None
        return e, z

    def soft_labels(z, obs):
        return jax.nn.softmax(z, axis=-1) if optimize else given_labels(fn, model, obs, t)

    # jitted so that an un-jitted run does not evaluate it op by op (inlined under jit / vmap)
    @jax.jit
    def objective(flat, obs):
        e, z = unravel(flat, obs)
        g = grad_fn(obs.params, e, soft_labels(z, obs))
        return distance(leaves_at(g, paths), leaves_at(obs.update, paths))

    fill_last = model.extra["task"] == "causal_lm" and model.extra["causal"]

    def decode_state(flat, obs):
        e, z = unravel(flat, obs)
        if optimize:
            lab = jnp.argmax(z, axis=-1).astype(jnp.int32)
        else:
            lab = given_labels(fn, model, obs, t)
        if fill_last:  # the last token reaches a causal LM's gradient only as a label
            table = token_embedding(model, obs.params)
            e = e.at[:, -1].set(table[lab[:, -1]].astype(e.dtype))
        return e, lab

    attack = flat_optimizer_attack(
        objective=objective,
        sample_init=sample_init,
        decode=decode_state,
        optimizer=optimizer,
        spec=None,
        tol=tol,
        early_stop=early_stop,
        name=name,
    )

    def to_ids(raw, obs):
        allowed = None
        if restrict_tokens:
            allowed = recover_tokens(model, obs.update, rule=token_rule, cutoff=token_cutoff)
        return decode_embeddings(model, raw, obs.params, metric=decode, allowed=allowed)

    return attack._replace(decode=to_ids)


def per_example_sizes(model: Model, seq_len: int, labels: str) -> tuple[int, ...]:
    """Sizes of one example's unknowns in the flat vector: ``(T * D,)`` or ``(T * D, label)``."""
    sizes = (seq_len * int(model.extra["d_model"]),)
    if labels == "optimize":
        sizes += (math.prod(label_shape(model, 1, seq_len)),)
    return sizes
