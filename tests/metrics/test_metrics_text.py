"""Text metrics against hand-computed values."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import metrics


def test_token_accuracy_matches_swapped_sequences():
    target = jnp.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 9, 9, 9]])
    recovered = jnp.array([[5, 6, 0, 8], [9, 9, 9, 0], [1, 2, 3, 4]])  # rows rotated
    perm = metrics.match_sequences(recovered, target)
    np.testing.assert_array_equal(perm, [2, 0, 1])
    np.testing.assert_allclose(metrics.token_accuracy(recovered, target), [1.0, 0.75, 0.75])
    np.testing.assert_allclose(
        metrics.token_accuracy(recovered, target, match=False), [0.0, 0.0, 0.0]
    )
    jitted = jax.jit(metrics.token_accuracy)(recovered, target)
    np.testing.assert_allclose(jitted, [1.0, 0.75, 0.75])


def test_token_accuracy_shape_errors():
    with pytest.raises(ValueError, match="must be equal"):
        metrics.token_accuracy(jnp.zeros((2, 3), int), jnp.zeros((2, 4), int))
    with pytest.raises(ValueError, match="integer ids"):
        metrics.token_accuracy(jnp.zeros((2, 3)), jnp.zeros((2, 3)))


def test_rouge_hand_computed():
    # hyp "t1 t2 t3 t4" vs ref "t1 t2 t5 t6": unigrams 2/4 both ways; bigrams {t1 t2} of 3;
    # LCS "t1 t2" = 2 of 4
    s = metrics.rouge_scores(jnp.array([[1, 2, 3, 4]]), jnp.array([[1, 2, 5, 6]]))
    np.testing.assert_allclose(s["rouge1"], [0.5])
    np.testing.assert_allclose(s["rouge2"], [1 / 3])
    np.testing.assert_allclose(s["rougeL"], [0.5])
    # precision and recall differ: hyp 3 tokens, ref 4 (hyp is a prefix): F1 = 2PR/(P+R)
    s = metrics.rouge_scores(["t1 t2 t3"], ["t1 t2 t3 t4"])
    np.testing.assert_allclose(s["rouge1"], [2 * 1 * 0.75 / 1.75])
    np.testing.assert_allclose(s["rouge2"], [2 * 1 * (2 / 3) / (1 + 2 / 3)])


def test_rouge_matches_batch_before_scoring():
    target = jnp.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    s = metrics.rouge_scores(target[::-1], target)
    np.testing.assert_allclose(s["rouge1"], [1.0, 1.0])
    s = metrics.rouge_scores(target[::-1], target, match=False)
    np.testing.assert_allclose(s["rouge1"], [0.0, 0.0])


def test_bleu_hand_computed():
    # hyp shorter than ref, all of its n-grams (n <= 3) match; effective order skips n = 4:
    # BLEU = BP * 100 with BP = exp(1 - 4/3)
    b = metrics.bleu_scores(["t1 t2 t3"], ["t1 t2 t3 t4"])
    np.testing.assert_allclose(b, [100 * math.exp(1 - 4 / 3)], rtol=1e-6)
    # equal length, p1 = 2/4, p2 = 1/3, n = 3, 4 unmatched: sacrebleu's exp smoothing gives
    # 1/(2 * 2) and 1/(4 * 1); BLEU = geometric mean
    b = metrics.bleu_scores(jnp.array([[1, 2, 3, 4]]), jnp.array([[1, 2, 5, 6]]))
    expected = 100 * (0.5 * (1 / 3) * 0.25 * 0.25) ** 0.25
    np.testing.assert_allclose(b, [expected], rtol=1e-6)
    same = metrics.bleu_scores(jnp.array([[7, 8, 9]]), jnp.array([[7, 8, 9]]))
    np.testing.assert_allclose(same, [100.0])


def test_token_set_precision_recall():
    mask = metrics.token_mask(jnp.array([1, 2, 3, 9]), 10)
    p, r = metrics.token_set_precision_recall(mask, jnp.array([[1, 2, 2], [4, 1, 5]]))
    np.testing.assert_allclose([float(p), float(r)], [2 / 4, 2 / 4])  # hits {1, 2} of {1,2,4,5}
    p, r = metrics.token_set_precision_recall(jnp.zeros(10, bool), jnp.array([1, 2]))
    assert float(p) == 0.0 and float(r) == 0.0
    with pytest.raises(ValueError, match=r"expected \(V,\)"):
        metrics.token_set_precision_recall(jnp.zeros((2, 5), bool), jnp.array([1]))
