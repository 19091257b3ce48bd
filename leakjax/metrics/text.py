"""Text reconstruction metrics (card 18): token accuracy, ROUGE-1/2/L, BLEU, token-set P/R.

Per-sequence values, order-free for batches: a batch gradient does not fix the order of its
sequences, so :func:`match_sequences` pairs recovered and true sequences by the Hungarian
algorithm (maximum number of position-wise equal tokens; ``optax.assignment``, jittable) and
every sequence metric is computed on ``recovered[perm]`` (``match=False`` compares row by row).

* :func:`token_accuracy`: fraction of positions whose recovered token equals the true one,
  ``(B,)`` in [0, 1].
* :func:`rouge_scores`: ROUGE-1, ROUGE-2 and ROUGE-L **F-measures** in [0, 1] from the
  ``rouge-score`` package (no stemming), on decoded text: the tokenizer's decoding when one is
  given, else the ids written as words ``"t12 t7 ..."`` (token-level ROUGE).
* :func:`bleu_scores`: sentence BLEU from ``sacrebleu`` on the same strings, on sacrebleu's
  **0-100** scale (``effective_order=True``, sacrebleu's default ``exp`` smoothing and ``13a``
  tokenization).
* :func:`token_set_precision_recall`: precision ``|R & T| / |R|`` and recall ``|R & T| / |T|`` of
  a recovered token set ``R`` (a ``(V,)`` mask, as :func:`leakjax.attacks.token_set` returns)
  against the set ``T`` of ids in the batch; an empty ``R`` has precision 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _ids(x, name):
    a = jnp.asarray(x)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or not jnp.issubdtype(a.dtype, jnp.integer):
        raise ValueError(f"{name}: shape {a.shape} dtype {a.dtype}, expected integer ids (B, T)")
    return a


def _pair(recovered, target):
    r, t = _ids(recovered, "recovered"), _ids(target, "target")
    if r.shape != t.shape:
        raise ValueError(
            f"recovered shape {r.shape} and target shape {t.shape} must be equal (B, T)"
        )
    return r, t


def match_sequences(recovered, target) -> jax.Array:
    """Permutation ``perm`` ``(B,)``: ``recovered[perm][j]`` is matched to ``target[j]``,
    maximizing the total number of position-wise equal tokens (Hungarian algorithm)."""
    r, t = _pair(recovered, target)
    agree = jnp.sum(r[:, None, :] == t[None, :, :], axis=-1)  # [i, j]: recovered i vs target j
    rows, cols = optax.assignment.hungarian_algorithm(-agree.astype(jnp.float32))
    return jnp.zeros((t.shape[0],), jnp.int32).at[cols].set(rows.astype(jnp.int32))


def _matched(recovered, target, match):
    r, t = _pair(recovered, target)
    if match and r.shape[0] > 1:
        r = r[match_sequences(r, t)]
    return r, t


def token_accuracy(recovered, target, *, match: bool = True) -> jax.Array:
    """Per-sequence fraction of positions recovered exactly, ``(B,)`` in [0, 1]."""
    r, t = _matched(recovered, target, match)
    return jnp.mean((r == t).astype(jnp.float32), axis=-1)


def _texts(ids, tokenizer):
    from leakjax.data.text import decode_ids

    return decode_ids(np.asarray(ids), tokenizer)


def rouge_scores(recovered, target, *, tokenizer=None, match: bool = True) -> dict[str, np.ndarray]:
    """ROUGE-1/2/L F-measures per sequence: ``{"rouge1": (B,), "rouge2": (B,), "rougeL": (B,)}``.

    ``recovered`` and ``target`` are ``(B, T)`` ids (matched first when ``match``) or lists of
    strings (compared as given).
    """
    from rouge_score import rouge_scorer

    hyp, ref = _strings(recovered, target, tokenizer, match)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    out = {k: np.zeros(len(ref), np.float64) for k in ("rouge1", "rouge2", "rougeL")}
    for i, (h, r) in enumerate(zip(hyp, ref)):
        s = scorer.score(r, h)  # score(target, prediction)
        for k in out:
            out[k][i] = s[k].fmeasure
    return out


def bleu_scores(recovered, target, *, tokenizer=None, match: bool = True) -> np.ndarray:
    """Sentence BLEU per sequence on sacrebleu's 0-100 scale, ``(B,)``."""
    from sacrebleu.metrics import BLEU

    hyp, ref = _strings(recovered, target, tokenizer, match)
    bleu = BLEU(effective_order=True)
    return np.asarray([bleu.sentence_score(h, [r]).score for h, r in zip(hyp, ref)], np.float64)


def _strings(recovered, target, tokenizer, match):
    if isinstance(recovered, (list, tuple)) and recovered and isinstance(recovered[0], str):
        if not (isinstance(target, (list, tuple)) and len(target) == len(recovered)):
            raise ValueError(
                f"recovered is {len(recovered)} strings; expected target to be as many strings"
            )
        return list(recovered), list(target)
    r, t = _matched(recovered, target, match)
    return _texts(r, tokenizer), _texts(t, tokenizer)


def token_mask(token_ids, vocab_size: int) -> jax.Array:
    """``(V,)`` bool: which of the ``vocab_size`` tokens occur in ``token_ids`` (any shape)."""
    ids = jnp.asarray(token_ids).reshape(-1)
    return jnp.zeros((vocab_size,), bool).at[ids].set(True)


def token_set_precision_recall(recovered_mask, target_ids) -> tuple[jax.Array, jax.Array]:
    """Precision and recall of a recovered token set (``(V,)`` mask) against the ids present in
    ``target_ids`` (any shape). Returns two float32 scalars in [0, 1]."""
    rec = jnp.asarray(recovered_mask).astype(bool)
    if rec.ndim != 1:
        raise ValueError(
            f"token_set_precision_recall: recovered_mask has shape {rec.shape}, expected (V,)"
        )
    true = token_mask(target_ids, rec.shape[0])
    hit = jnp.sum(rec & true).astype(jnp.float32)
    n_rec = jnp.sum(rec).astype(jnp.float32)
    precision = jnp.where(n_rec > 0, hit / jnp.maximum(n_rec, 1.0), 0.0)
    recall = hit / jnp.maximum(jnp.sum(true).astype(jnp.float32), 1.0)
    return precision, recall
