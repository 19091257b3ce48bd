"""TAG: Gradient Attack on Transformer-based Language Models (Deng et al., Findings of EMNLP
2021), with breaching's settings (``config/attack/tag.yaml``; card 18) as the defaults.

Threat model: honest-but-curious server; knows the architecture and the weights, sees one
batch-mean gradient of a text model; knows the batch size and the sequence length; does not
know the tokens or the labels (``labels="optimize"``: soft labels are optimized jointly, as
breaching's joint-optimization attacker does; ``labels="given"`` uses the observation's).

Unknowns: continuous token embeddings ``(B, T, D)`` (the output of the token-embedding lookup;
the positional embedding is added by the model) and label logits (LM ``(B, T - 1, V)``,
classifier ``(B, C)``). Init: breaching's ``randn-trunc``, ``clip(0.1 * N(0, 1), -0.1, 0.1)``,
for both (``init="randn"`` gives ``N(0, 1)``, the paper's random-normal start). No box.

Objective (breaching's ``tag-euclidean``), over the layers in module order without the token
embedding table (see :mod:`leakjax.attacks.text_common`), ``d_l = g'_l - g*_l``:
``0.5 * sum_l ( ||d_l||_2^2 + alpha * w_l * ||d_l||_1 )`` with ``alpha = 0.1`` and breaching's
``scale_scheme="linear"`` L1 weights ``w_l = (L - l) / L``, ``l = 0..L-1`` (``"uniform"``:
``w_l = 1``, the paper's plain L2 + alpha L1).

Optimizer: breaching's "bert-adam", ``AdamW(lr, betas (0.9, 0.999), eps 1e-6, weight decay
0.01)``, lr 0.05, learning rate ``lr * s / 50`` over 50 warm-up steps and then
``lr * (1 - (s - 50) / 1000)`` (breaching's ``GradualWarmupScheduler`` into a linear
``LambdaLR``), the gradient of the embeddings and of the label logits each clipped to norm 1
(``g * 1 / (||g|| + 1e-6)`` when ``||g|| > 1``) before the step; 1000 steps. As breaching
(``breaching/attacks/optimization_based_attack.py``), the iterate with the lowest objective seen
is returned (``select="best"``; ``select="last"`` returns the final one). Decoding: each position to the nearest row of the
token-embedding table (cosine similarity by default), optionally restricted to the token set
(``restrict_tokens``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack
from leakjax.attacks.optim import TorchLBFGS
from leakjax.attacks.text_common import (
    TEXT_LABEL_MODES,
    check_choice,
    check_seq_len,
    embedding_attack,
    per_example_sizes,
)
from leakjax.models.transformer import check_text_model
from leakjax.types import Model

TAG_INITS = ("randn-trunc", "randn")
TAG_LAYER_WEIGHTS = ("linear", "uniform")


def tag_distance(a_leaves, b_leaves, *, alpha=0.1, layer_weights: str = "linear") -> jax.Array:
    """``0.5 * sum_l (||a_l - b_l||^2 + alpha * w_l * ||a_l - b_l||_1)`` over two lists of
    leaves **in module order** (``w_l = (L - l) / L`` for ``"linear"``, 1 for ``"uniform"``)."""
    if layer_weights not in TAG_LAYER_WEIGHTS:
        raise ValueError(
            f"tag_distance: layer_weights={layer_weights!r}, expected one of {TAG_LAYER_WEIGHTS}"
        )
    if len(a_leaves) != len(b_leaves):
        raise ValueError(f"tag_distance: {len(a_leaves)} leaves vs {len(b_leaves)}")
    n = len(a_leaves)
    total = 0.0
    for i, (x, y) in enumerate(zip(a_leaves, b_leaves)):
        w = (n - i) / n if layer_weights == "linear" else 1.0
        diff = x - y
        total = total + jnp.sum(diff * diff) + alpha * w * jnp.sum(jnp.abs(diff))
    return 0.5 * total


def clip_segments_by_norm(max_norm, segment_sizes: tuple[int, ...]) -> optax.GradientTransformation:
    """Clip each segment of a flat update to norm ``max_norm`` as ``torch`` code does by hand.

    The flat vector is ``B`` examples' worth of segments laid out segment by segment
    (``B * segment_sizes[0]`` entries, then ``B * segment_sizes[1]``, ...); ``B`` follows from
    its length. A segment with ``||g|| > max_norm`` is scaled by ``max_norm / (||g|| + 1e-6)``.
    """
    unit = sum(segment_sizes)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        total = updates.shape[0]
        if total % unit:
            raise ValueError(
                f"clip_segments_by_norm: flat size {total} is not a multiple of {unit}"
            )
        b = total // unit
        parts, start = [], 0
        for size in segment_sizes:
            seg = updates[start : start + b * size]
            start += b * size
            norm = jnp.linalg.norm(seg)
            parts.append(seg * jnp.where(norm > max_norm, max_norm / (norm + 1e-6), 1.0))
        return jnp.concatenate(parts), state

    return optax.GradientTransformation(init_fn, update_fn)


def tag_schedule(lr=0.05, *, warmup_steps: int = 50, decay_steps: int = 1000):
    """Linear warm-up ``0 -> lr`` over ``warmup_steps``, then linear decay to 0 over
    ``decay_steps`` (breaching's TAG schedule)."""
    decay = optax.linear_schedule(lr, 0.0, decay_steps)
    if warmup_steps <= 0:
        return decay
    warm = optax.linear_schedule(0.0, lr, warmup_steps)
    return optax.join_schedules([warm, decay], [warmup_steps])


def tag_optimizer(
    segment_sizes: tuple[int, ...],
    *,
    lr=0.05,
    warmup_steps: int = 50,
    decay_steps: int = 1000,
    weight_decay=0.01,
    grad_clip=1.0,
) -> optax.GradientTransformation:
    """Breaching's "bert-adam" for TAG: per-unknown norm clipping, then AdamW with the schedule."""
    adam = optax.adamw(
        tag_schedule(lr, warmup_steps=warmup_steps, decay_steps=decay_steps),
        b1=0.9,
        b2=0.999,
        eps=1e-6,
        weight_decay=weight_decay,
    )
    if grad_clip is None:
        return adam
    return optax.chain(clip_segments_by_norm(grad_clip, segment_sizes), adam)


def tag(
    model: Model,
    *,
    seq_len: int | None = None,
    labels: str = "optimize",
    alpha=0.1,
    layer_weights: str = "linear",
    lr=0.05,
    warmup_steps: int = 50,
    decay_steps: int = 1000,
    weight_decay=0.01,
    grad_clip=1.0,
    optimizer: TorchLBFGS | optax.GradientTransformation | None = None,
    init: str = "randn-trunc",
    decode: str = "cosine",
    restrict_tokens: bool = False,
    token_rule: str = "exact",
    token_cutoff=5.0,
    tol: float = 1e-9,
    early_stop: bool = False,
    select: str = "best",
) -> Attack:
    """TAG as an :class:`Attack` (run with :func:`leakjax.attacks.run`, 1000 steps as breaching).

    Args:
      model: a text model (:func:`leakjax.models.transformer3` etc.).
      seq_len: the sequence length ``T`` the attacker assumes (default: the model's context).
      labels: ``"optimize"`` (soft labels, default) or ``"given"`` (``obs.labels``).
      alpha: weight of the L1 term (0.1).
      layer_weights: ``"linear"`` (breaching) or ``"uniform"`` L1 layer weights.
      lr, warmup_steps, decay_steps, weight_decay, grad_clip: the optimizer (see module
        docstring); ``grad_clip=None`` disables clipping. ``lr``, ``alpha``,
        ``weight_decay`` and ``grad_clip`` may be traced (vmapped).
      optimizer: replaces the whole optimizer (any optax transformation or torch_lbfgs).
      init: ``"randn-trunc"`` (breaching) or ``"randn"``.
      decode: ``"cosine"`` or ``"l2"`` nearest token embedding.
      restrict_tokens: decode only to tokens recovered by :func:`~leakjax.attacks.token_set`
        (``token_rule``, ``token_cutoff``).
      tol: matching loss under which a run is "converged".
      select: ``"best"`` (breaching: the iterate with the lowest matching loss) or ``"last"``.

    Returns:
      An Attack whose result has ``inputs`` = token ids ``(B, T)``, ``labels`` = recovered
      labels, ``raw_inputs`` = the embeddings.
    """
    check_text_model("tag", model)
    if init not in TAG_INITS:
        raise ValueError(f"tag: init={init!r}, expected one of {TAG_INITS}")
    if layer_weights not in TAG_LAYER_WEIGHTS:
        raise ValueError(
            f"tag: layer_weights={layer_weights!r}, expected one of {TAG_LAYER_WEIGHTS}"
        )
    for name, v in (("warmup_steps", warmup_steps), ("decay_steps", decay_steps)):
        if (
            isinstance(v, bool)
            or not isinstance(v, int)
            or v < (0 if name == "warmup_steps" else 1)
        ):
            raise ValueError(f"tag: {name}={v!r}, expected a non-negative integer (decay >= 1)")
    t = check_seq_len("tag", model, seq_len)
    check_choice("tag", "labels", labels, TEXT_LABEL_MODES)
    if optimizer is None:
        optimizer = tag_optimizer(
            per_example_sizes(model, t, labels),
            lr=lr,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            weight_decay=weight_decay,
            grad_clip=grad_clip,
        )

    def sample(key, shape):
        x = jax.random.normal(key, shape, jnp.float32)
        return jnp.clip(0.1 * x, -0.1, 0.1) if init == "randn-trunc" else x

    return embedding_attack(
        model,
        fn="tag",
        name="tag",
        seq_len=t,
        labels=labels,
        distance=lambda a, b: tag_distance(a, b, alpha=alpha, layer_weights=layer_weights),
        optimizer=optimizer,
        init_embeddings=sample,
        init_labels=sample,
        decode=decode,
        restrict_tokens=restrict_tokens,
        token_rule=token_rule,
        token_cutoff=token_cutoff,
        tol=tol,
        early_stop=early_stop,
    )._replace(select=select)
