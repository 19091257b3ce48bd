"""Token-set recovery from the embedding-layer gradient (card 18; used by FILM, DAGER and
breaching's token strategies).

Threat model: honest-but-curious server; knows the architecture and the weights; sees the
client's update (one gradient, or a multi-step delta of plain SGD). No optimization.

**Input side.** The token-embedding lookup ``e_p = E[x_p]`` makes row ``v`` of the table's
gradient ``sum_{p: x_p = v} dL/de_p``: rows of tokens absent from the batch are *exactly*
zero, so (with an untied head) the rows with a non-zero gradient are the bag of input tokens,
at any batch size. Exceptions: with a causal mask a token that occurs only at the last position
of its sequences gets no input-side gradient (the last output is dropped), and a row can be
zero by exact cancellation (measure zero).

**Output side** (``use_head_bias``). The head bias gradient of the batch-mean CE over ``N``
predicted positions is ``g_b[v] = (1/N) sum_t (softmax(z_t)[v] - [y_t = v])``: negative for the
labels (LM: the next tokens, i.e. positions 1..T-1; classifier: the classes present) as long as
``sum_t softmax(z_t)[v] < count(v)``, which an untrained model with near-uniform outputs meets
whenever ``N`` is well below ``V``; positive otherwise. For a causal LM the union of the two
sides covers every position, so the recovery is exact for an untrained model at B = 1 and
beyond, undefended.

**Rules.** ``rule="exact"`` keeps rows with a non-zero gradient norm (and bias entries below
zero): exact when undefended. Under a defense that adds noise every row is non-zero, so
``rule="robust"`` keeps scores above ``median + cutoff * 1.4826 * MAD`` of all scores (rows'
norms; minus the bias), a robust z-score that reduces to the non-zero rule when most rows are
exactly zero and separates present tokens from noise-only rows otherwise. Both are approximate
under defenses; magnitude pruning keeps the largest (present) rows, so "exact" stays exact
there unless whole present rows are pruned.

Tied embeddings: the table's gradient also carries the dense output-side term, so its rows no
longer mark the input tokens; :func:`recover_tokens` refuses tied models.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from leakjax.attacks.base import Attack, check_observation
from leakjax.models.transformer import check_text_model
from leakjax.types import Grads, Model, get_path

TOKEN_RULES = ("exact", "robust")


def check_choice(fn: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{fn}: {name}={value!r}, expected one of {tuple(choices)}")


def _robust_select(scores: jax.Array, cutoff) -> jax.Array:
    med = jnp.median(scores)
    mad = 1.4826 * jnp.median(jnp.abs(scores - med))
    return scores > med + cutoff * mad


def _select(scores, rule, cutoff):
    if rule == "exact":
        return scores > 0
    return _robust_select(scores, cutoff)


def token_scores(model: Model, update: Grads) -> jax.Array:
    """Per-token L2 norm of the token-embedding table's gradient rows, ``(V,)``."""
    g = get_path(update, model.extra["token_embedding_path"], what="token_embedding_path")
    return jnp.linalg.norm(g.astype(jnp.float32), axis=-1)


def recover_labels_set(
    model: Model, update: Grads, *, rule: str = "exact", cutoff=5.0
) -> jax.Array:
    """``(num_classes,)`` bool: the labels present, from the head bias gradient (``g_b < 0``
    with ``rule="exact"``). LM: the next tokens; classifier: the classes."""
    check_choice("recover_labels_set", "rule", rule, TOKEN_RULES)
    gb = model.classifier_bias(update)
    if gb is None:
        raise ValueError(
            f"recover_labels_set: model={model.name!r} has no classifier bias; the output-side "
            "rule needs one"
        )
    return _select(-gb.astype(jnp.float32), rule, cutoff)


def _check_untied(fn: str, model: Model):
    check_text_model(fn, model)
    if model.extra.get("tied"):
        raise ValueError(
            f"{fn}: model={model.name!r} ties its token embedding to the output head; the rows "
            "of the table's gradient then mix the dense output-side gradient and no longer mark "
            "the input tokens (use an untied model, tie_embeddings=False)"
        )


def _check_args(fn: str, model: Model, rule: str, use_head_bias: bool | None) -> bool:
    _check_untied(fn, model)
    check_choice(fn, "rule", rule, TOKEN_RULES)
    lm = model.extra["task"] == "causal_lm"
    if use_head_bias is None:
        return lm
    if use_head_bias and not lm:
        raise ValueError(
            f"{fn}: use_head_bias=True needs a language model (its labels are tokens); "
            f"model={model.name!r} is a classifier"
        )
    return bool(use_head_bias)


def recover_tokens(
    model: Model,
    update: Grads,
    *,
    rule: str = "exact",
    cutoff=5.0,
    use_head_bias: bool | None = None,
) -> jax.Array:
    """``(V,)`` bool mask of the tokens recovered from ``update`` (see the module docstring).

    Args:
      model: an untied text model.
      update: the shared update (params' structure).
      rule: ``"exact"`` (non-zero rows / negative bias) or ``"robust"`` (robust z-score).
      cutoff: the z-score threshold of ``rule="robust"`` (a traceable number).
      use_head_bias: add the labels read from the head bias (LM only; default: True for a
        language model, where it supplies the last position a causal mask hides).
    """
    use_head_bias = _check_args("recover_tokens", model, rule, use_head_bias)
    mask = _select(token_scores(model, update), rule, cutoff)
    if use_head_bias:
        mask = mask | recover_labels_set(model, update, rule=rule, cutoff=cutoff)
    return mask


def token_set(
    model: Model,
    *,
    rule: str = "exact",
    cutoff=5.0,
    use_head_bias: bool | None = None,
) -> Attack:
    """Token-set recovery as an :class:`Attack` (``init`` reads the update; ``step`` is a no-op).

    The :class:`~leakjax.types.AttackResult` holds:

    * ``inputs``: int32 ``(V,)`` mask, 1 for each token recovered (:func:`recover_tokens`);
    * ``labels``: int32 ``(num_classes,)`` mask of the labels read from the head bias
      (:func:`recover_labels_set`; LM: next tokens, classifier: classes);
    * ``raw_inputs``: the per-token scores ``(V,)`` (row norms of the table's gradient);
    * ``loss``: 0 (there is no matching loss); ``status`` is ``max_steps``.

    Compare with :func:`leakjax.metrics.token_set_precision_recall`.
    """
    use_head_bias = _check_args("token_set", model, rule, use_head_bias)
    kwargs = dict(rule=rule, cutoff=cutoff, use_head_bias=use_head_bias)

    def init(key, obs):
        del key
        check_observation(model, obs)
        return token_scores(model, obs.update)

    def step(state, obs):
        return state, jnp.zeros((), jnp.float32)

    def result(state, obs):
        labels = recover_labels_set(model, obs.update, rule=rule, cutoff=cutoff)
        return state, labels.astype(jnp.int32), jnp.zeros((), jnp.float32)

    def decode(raw, obs):
        del raw
        return recover_tokens(model, obs.update, **kwargs).astype(jnp.int32)

    return Attack(
        init=init,
        step=step,
        result=result,
        spec=None,
        tol=-1.0,
        early_stop=False,
        name="token_set",
        decode=decode,
    )
