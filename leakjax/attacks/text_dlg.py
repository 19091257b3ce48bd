"""DLG on text (Zhu, Liu, Han, NeurIPS 2019, Sec. 4.2; card 18).

Threat model: honest-but-curious server; knows the architecture and the weights, sees one
batch-mean gradient of a text model; knows the batch size and the sequence length; knows
neither the tokens nor the labels (``labels="optimize"``).

Optimizes continuous dummy token *embeddings* ``(B, T, D)`` (not ids) and, when the labels are
unknown, dummy label logits (LM ``(B, T - 1, V)``, classifier ``(B, C)``; the soft label is
their softmax), to minimize DLG's distance ``sum_l ||g'_l - g*_l||_2^2`` over every layer but
the token-embedding table (its simulated gradient is identically zero; see
:mod:`leakjax.attacks.text_common`). Optimizer: PyTorch-style L-BFGS as image DLG (lr 1, 20
evaluations per step, history 100; breaching's ``deepleakage.yaml`` runs L-BFGS with lr 1).
Init: ``N(0, init_std^2)`` for both unknowns. After optimization each position is mapped to the
closest row of the embedding matrix (cosine similarity by default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack
from leakjax.attacks.optim import TorchLBFGS, torch_lbfgs
from leakjax.attacks.text_common import embedding_attack


def _l2(a_leaves, b_leaves):
    return sum(jnp.sum((x - y) ** 2) for x, y in zip(a_leaves, b_leaves))


def text_dlg(
    model,
    *,
    seq_len: int | None = None,
    labels: str = "optimize",
    optimizer: TorchLBFGS | optax.GradientTransformation | None = None,
    init_std=1.0,
    decode: str = "cosine",
    restrict_tokens: bool = False,
    token_rule: str = "exact",
    token_cutoff=5.0,
    tol: float = 1e-9,
    early_stop: bool = False,
) -> Attack:
    """DLG on text as an :class:`Attack` (run it with :func:`leakjax.attacks.run`).

    Args:
      model: a text model (:func:`leakjax.models.transformer_lm` etc.).
      seq_len: the sequence length the attacker assumes (default: the model's context).
      labels: ``"optimize"`` (default) or ``"given"``.
      optimizer: defaults to ``torch_lbfgs()``; any optax transformation works.
      init_std: std of the Gaussian init of the embeddings and label logits (may be traced).
      decode: ``"cosine"`` or ``"l2"`` nearest token embedding.
      restrict_tokens, token_rule, token_cutoff: decode only to the recovered token set.
      tol: matching loss under which a run is "converged".
    """
    if not isinstance(optimizer, (TorchLBFGS, optax.GradientTransformation, type(None))):
        raise TypeError(
            f"text_dlg: optimizer={optimizer!r}, expected leakjax.attacks.torch_lbfgs(...) or an "
            "optax.GradientTransformation"
        )
    optimizer = torch_lbfgs() if optimizer is None else optimizer

    def sample(key, shape):
        return init_std * jax.random.normal(key, shape, jnp.float32)

    return embedding_attack(
        model,
        fn="text_dlg",
        name="text_dlg",
        seq_len=seq_len,
        labels=labels,
        distance=_l2,
        optimizer=optimizer,
        init_embeddings=sample,
        init_labels=sample,
        decode=decode,
        restrict_tokens=restrict_tokens,
        token_rule=token_rule,
        token_cutoff=token_cutoff,
        tol=tol,
        early_stop=early_stop,
    )
