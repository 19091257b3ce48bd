"""Text attacks: recovery on an untrained tiny transformer, token sets, pieces and errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import attacks, defenses, metrics, models
from leakjax.attacks import observe_text, run
from leakjax.attacks.tag import clip_segments_by_norm, tag_distance, tag_schedule

TINY = dict(vocab_size=32, context=4, num_layers=1, d_model=16, num_heads=2, d_ff=32)


@pytest.fixture(scope="module")
def lm():
    return models.transformer_lm(jax.random.key(0), **TINY)


@pytest.fixture(scope="module")
def ids1():
    return jax.random.randint(jax.random.key(10), (1, 4), 0, 32)


def _observe(model, ids, labels=None, **kw):
    """observe_text under jit (a tiny program compiles faster than it runs op by op)."""
    return jax.jit(lambda k: observe_text(k, model, ids, labels, **kw))(jax.random.key(1))


@pytest.fixture(scope="module")
def obs1(lm, ids1):
    return _observe(lm, ids1)


# ------------------------------------------------------------------------------------------
# recovery on the untrained tiny model
# ------------------------------------------------------------------------------------------


def test_tag_recovers_tokens_and_labels_at_b1(lm, ids1, obs1):
    r = jax.jit(lambda k: run(attacks.tag(lm), k, obs1, steps=1000))(jax.random.key(2))
    np.testing.assert_array_equal(r.inputs, ids1)
    np.testing.assert_array_equal(r.labels, ids1[:, 1:])  # soft labels -> next tokens
    assert r.raw_inputs.shape == (1, 4, 16) and r.inputs.dtype == jnp.int32
    assert float(r.loss) < 0.1 * float(r.loss_trace[0])


def test_text_dlg_recovers_tokens_at_b1(lm, ids1, obs1):
    atk = attacks.text_dlg(lm)
    r = jax.jit(lambda k: run(atk, k, obs1, steps=60, restarts=4))(jax.random.key(2))
    np.testing.assert_array_equal(r.inputs, ids1)
    assert float(r.loss) < 1e-4


def test_tag_batch_of_two_with_matching(lm):
    ids = jax.random.randint(jax.random.key(11), (2, 4), 0, 32)
    obs = _observe(lm, ids)
    atk = attacks.tag(lm, restrict_tokens=True, decay_steps=600)
    r = jax.jit(lambda k: run(atk, k, obs, steps=600))(jax.random.key(2))
    acc = metrics.token_accuracy(r.inputs, ids)
    assert float(acc.mean()) == 1.0
    rec = set(np.asarray(r.inputs).ravel().tolist())
    assert rec <= set(np.asarray(ids).ravel().tolist())  # restricted to the token set


def test_nearest_tokens_metrics_and_restriction():
    table = jnp.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [-1.0, 0.1]])
    e = jnp.array([[1.5, 1.2], [2.0, 0.1]])
    np.testing.assert_array_equal(attacks.nearest_tokens(e, table, metric="cosine"), [2, 0])
    np.testing.assert_array_equal(attacks.nearest_tokens(e, table, metric="l2"), [0, 0])
    allowed = jnp.array([False, True, False, True])
    np.testing.assert_array_equal(
        attacks.nearest_tokens(e, table, metric="l2", allowed=allowed), [1, 1]
    )
    none = jnp.zeros(4, bool)  # an empty recovered set falls back to every token
    np.testing.assert_array_equal(attacks.nearest_tokens(e, table, allowed=none), [2, 0])


def test_tag_given_labels(lm, ids1):
    obs = _observe(lm, ids1, reveal_labels=True)
    atk = attacks.tag(lm, labels="given", decay_steps=400)
    r = jax.jit(lambda k: run(atk, k, obs, steps=400))(jax.random.key(3))
    np.testing.assert_array_equal(r.inputs, ids1)
    np.testing.assert_array_equal(r.labels, ids1[:, 1:])


# ------------------------------------------------------------------------------------------
# token sets
# ------------------------------------------------------------------------------------------


def _true_mask(ids, v=32):
    m = np.zeros(v, np.int32)
    m[np.asarray(ids).ravel()] = 1
    return m


@pytest.mark.parametrize("b", [1, 2])
def test_token_set_exact_undefended(lm, b):
    ids = jnp.array([[3, 8, 3, 21], [17, 2, 30, 5]])[:b]  # last tokens 21, 5 occur only last
    obs = _observe(lm, ids)
    r = run(attacks.token_set(lm), jax.random.key(0), obs, steps=1)
    np.testing.assert_array_equal(r.inputs, _true_mask(ids))
    np.testing.assert_array_equal(r.labels, _true_mask(ids[:, 1:]))
    # the input side alone misses the last tokens under the causal mask
    side = attacks.recover_tokens(lm, obs.update, use_head_bias=False)
    np.testing.assert_array_equal(side, _true_mask(ids[:, :-1]).astype(bool))


def test_token_set_classifier_embedding_side():
    c = models.transformer_classifier(jax.random.key(0), num_classes=3, **TINY)
    ids = jnp.array([[3, 8, 3, 21], [17, 2, 30, 5]])
    obs = _observe(c, ids, jnp.array([0, 2]))
    r = run(attacks.token_set(c), jax.random.key(0), obs, steps=1)
    np.testing.assert_array_equal(r.inputs, _true_mask(ids))
    np.testing.assert_array_equal(r.labels, [1, 0, 1])  # classes from the head bias


def test_token_set_under_noise_needs_the_robust_rule(lm):
    ids = jnp.array([[3, 8, 3, 21]])
    noise = defenses.gaussian_noise(1e-3, jax.random.key(4))
    obs = _observe(lm, ids, defense=noise)
    exact = attacks.recover_tokens(lm, obs.update)
    robust = attacks.recover_tokens(lm, obs.update, rule="robust", cutoff=5.0)
    p_exact, r_exact = metrics.token_set_precision_recall(exact, ids)
    p_rob, r_rob = metrics.token_set_precision_recall(robust, ids)
    assert float(r_exact) == 1.0 and float(p_exact) < 0.2  # every noisy row is non-zero
    assert float(r_rob) == 1.0 and float(p_rob) == 1.0


def test_token_set_survives_pruning(lm):
    ids = jnp.array([[3, 8, 3, 21]])
    obs = _observe(lm, ids, defense=defenses.prune_by_magnitude(0.9))
    mask = attacks.recover_tokens(lm, obs.update)
    np.testing.assert_array_equal(mask, _true_mask(ids).astype(bool))


# ------------------------------------------------------------------------------------------
# pieces and errors
# ------------------------------------------------------------------------------------------


def test_tag_distance_hand_computed():
    a = [jnp.array([1.0, -1.0]), jnp.array([2.0])]
    b = [jnp.array([0.0, 0.0]), jnp.array([0.0])]
    # 0.5 * [(2 + 0.1 * 1 * 2) + (4 + 0.1 * 0.5 * 2)]
    np.testing.assert_allclose(tag_distance(a, b), 0.5 * (2.2 + 4.1))
    np.testing.assert_allclose(tag_distance(a, b, layer_weights="uniform"), 0.5 * (2.2 + 4.2))


def test_tag_schedule_warmup_then_linear_decay():
    s = tag_schedule(0.05, warmup_steps=50, decay_steps=1000)
    np.testing.assert_allclose(
        [float(s(i)) for i in (0, 25, 50, 550, 1050, 2000)],
        [0.0, 0.025, 0.05, 0.025, 0.0, 0.0],
        atol=1e-8,
    )


def test_segment_clipping_is_per_unknown():
    tx = clip_segments_by_norm(1.0, (2, 1))  # per example: 2 embedding, 1 label entries
    g = jnp.array([3.0, 4.0, 6.0, 8.0, 0.1, 0.2])  # B = 2: embeddings (4), labels (2)
    out, _ = tx.update(g, tx.init(g))
    emb_norm = np.linalg.norm([3, 4, 6, 8])
    np.testing.assert_allclose(out[:4], g[:4] / (emb_norm + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(out[4:], g[4:])  # below the bound: untouched


def test_errors_name_argument_and_value(lm, obs1):
    with pytest.raises(ValueError, match=r"tag: seq_len=5, expected an integer in \[2, 4\]"):
        attacks.tag(lm, seq_len=5)
    with pytest.raises(ValueError, match="labels='infer'"):
        attacks.tag(lm, labels="infer")
    with pytest.raises(ValueError, match="init='zeros'"):
        attacks.tag(lm, init="zeros")
    with pytest.raises(ValueError, match="decode='dot'"):
        attacks.text_dlg(lm, decode="dot")
    with pytest.raises(ValueError, match="is not a text model"):
        attacks.tag(models.mlp(jax.random.key(0), input_shape=(2, 2, 1), num_classes=2))
    with pytest.raises(ValueError, match="observation carries no labels"):
        run(attacks.tag(lm, labels="given"), jax.random.key(0), obs1, steps=1)
    tied = models.transformer_lm(jax.random.key(0), **TINY, tie_embeddings=True)
    with pytest.raises(ValueError, match="ties its token embedding"):
        attacks.token_set(tied)
    with pytest.raises(ValueError, match="rule='zscore'"):
        attacks.token_set(lm, rule="zscore")
    with pytest.raises(ValueError, match="labels given for a language model"):
        observe_text(jax.random.key(0), lm, jnp.array([[1, 2]]), jnp.array([0]))
