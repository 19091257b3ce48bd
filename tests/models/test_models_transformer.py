"""Text transformers: shapes, causality, the shared embedding gradient, init, layer order, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import fl, models
from leakjax.attacks import observe_text
from leakjax.types import tree_paths

TINY = dict(vocab_size=32, context=4, num_layers=1, d_model=16, num_heads=2, d_ff=32)


@pytest.fixture(scope="module")
def lm():
    return models.transformer_lm(jax.random.key(0), **TINY)


@pytest.fixture(scope="module")
def ids():
    return jnp.array([[3, 7, 7, 30], [5, 1, 9, 12]], jnp.int32)


def test_apply_equals_embedding_path_and_shapes(lm, ids):
    logits = lm.apply_fn(lm.params, ids)
    assert logits.shape == (2, 3, 32)  # next-token logits, last position dropped
    emb = lm.extra["embed_fn"](lm.params, ids)
    assert emb.shape == (2, 4, 16)
    np.testing.assert_allclose(emb[0, 1], lm.params["token_embed"]["embedding"][7])
    via_emb = lm.extra["apply_embeddings"](lm.params, emb)
    np.testing.assert_allclose(via_emb, logits, rtol=1e-6, atol=1e-6)


def test_causal_mask(ids):
    causal = models.transformer_lm(jax.random.key(0), **TINY)
    bidir = models.transformer_lm(jax.random.key(0), **TINY, causal=False)
    changed = ids.at[:, 2].set(0)
    for m, same_before in ((causal, True), (bidir, False)):
        a, b = m.apply_fn(m.params, ids), m.apply_fn(m.params, changed)
        # positions 0, 1 see token 2 only without a causal mask
        assert np.allclose(a[:, :2], b[:, :2], atol=1e-6) == same_before
        assert not np.allclose(a[:, 2], b[:, 2])


def test_loss_is_mean_next_token_ce(lm, ids):
    labels = models.lm_labels(ids)
    loss = fl.loss_fn(lm)(lm.params, ids, labels)
    logp = jax.nn.log_softmax(lm.apply_fn(lm.params, ids), axis=-1)
    manual = -np.mean([float(logp[b, t, int(ids[b, t + 1])]) for b in range(2) for t in range(3)])
    np.testing.assert_allclose(float(loss), manual, rtol=1e-5)


def test_shared_gradient_has_embedding_rows_of_present_tokens(lm, ids):
    obs = jax.jit(lambda k, x: observe_text(k, lm, x))(jax.random.key(0), ids)
    g_e = np.asarray(obs.update["token_embed"]["embedding"])
    nonzero = set(np.nonzero(np.linalg.norm(g_e, axis=1))[0].tolist())
    # causal: the last token of each row only reaches the dropped last output
    assert nonzero == {3, 7, 5, 1, 9}
    # the attacker's embedding view: same gradient everywhere but the (zero) table leaf
    emb = lm.extra["embed_fn"](lm.params, ids)
    g_sim = jax.jit(fl.client_gradient(models.embedding_model(lm)))(
        lm.params, emb, models.lm_labels(ids)
    )
    assert float(jnp.abs(g_sim["token_embed"]["embedding"]).max()) == 0.0
    for path, a in jax.tree_util.tree_flatten_with_path(obs.update)[0]:
        if "token_embed" in str(path):
            continue
        b = g_sim
        for k in path:
            b = b[k.key]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_layer_order_covers_every_leaf_in_module_order(lm):
    order = models.layer_order(lm)
    as_str = ["/".join(p) for p in order]
    assert sorted(as_str) == sorted(tree_paths(lm.params))
    assert order[0] == ("pos_embed", "embedding")
    assert order[1] == ("block_0", "attn_qkv", "kernel")
    assert order[-3:] == (("token_embed", "embedding"), ("head", "kernel"), ("head", "bias"))


def test_init_follows_reference_distributions():
    m = models.transformer_lm(
        jax.random.key(3), vocab_size=512, context=64, num_layers=1, d_model=16, num_heads=2
    )
    p = m.params
    tok, head = p["token_embed"]["embedding"], p["head"]["kernel"]
    assert float(jnp.abs(tok).max()) <= 0.1 and float(jnp.abs(tok).max()) > 0.09
    assert float(jnp.abs(head).max()) <= 0.1
    assert 0.9 < float(jnp.std(p["pos_embed"]["embedding"])) < 1.1  # nn.Embedding: N(0, 1)
    assert float(jnp.abs(p["block_0"]["attn_qkv"]["bias"]).max()) == 0.0
    bound = 1 / np.sqrt(16)
    assert bound * 0.9 < float(jnp.abs(p["block_0"]["mlp_in"]["bias"]).max()) <= bound


def test_transformer3_parameter_count():
    # breaching's transformer3 with GPT-2's vocabulary and 1024 learnable positions:
    # 1024*96 + 3*(27936 + 9312 + 148992 + 147552 + 384) + 50257*96 + (96*50257 + 50257)
    m = models.transformer3(jax.random.key(0), vocab_size=50257, context=1024)
    assert sum(x.size for x in jax.tree.leaves(m.params)) == 10_800_433
    assert m.name == "transformer3" and m.extra["causal"] is True


def test_tied_head_uses_the_token_table(ids):
    m = models.transformer_lm(jax.random.key(0), **TINY, tie_embeddings=True)
    assert "kernel" not in m.params["head"] and m.extra["tied"]
    assert m.classifier_kernel_path == ("token_embed", "embedding")
    assert ("head", "kernel") not in models.layer_order(m)
    g = jax.jit(fl.client_gradient(m))(m.params, ids, models.lm_labels(ids))
    rows = np.linalg.norm(np.asarray(g["token_embed"]["embedding"]), axis=1)
    assert (rows > 0).all()  # the output side touches every row


def test_classifier_shapes_and_features(ids):
    c = models.transformer_classifier(jax.random.key(0), num_classes=3, **TINY)
    assert c.apply_fn(c.params, ids).shape == (2, 3)
    assert c.features_fn(c.params, ids).shape == (2, 16)
    assert c.extra["causal"] is False and c.extra["task"] == "classification"


def test_bad_inputs_name_argument_and_value(lm):
    too_long = jnp.zeros((1, 5), jnp.int32)
    with pytest.raises(ValueError, match=r"token_ids: sequence length 5 exceeds .*context=4"):
        models.check_token_ids(too_long, lm)
    with pytest.raises(ValueError, match=r"sequence length 5 exceeds"):
        lm.apply_fn(lm.params, too_long)  # the model itself refuses, under jit too
    with pytest.raises(
        ValueError, match=r"token_ids: token id 32 is out of the vocabulary.*\[0, 32\)"
    ):
        observe_text(jax.random.key(0), lm, jnp.array([[1, 2, 32]]))
    with pytest.raises(ValueError, match=r"token id -1"):
        models.check_token_ids(jnp.array([[1, -1]]), lm)
    with pytest.raises(TypeError, match="integer token ids"):
        models.check_token_ids(jnp.zeros((1, 3)), lm)
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=4"):
        models.transformer_lm(jax.random.key(0), vocab_size=8, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="vocab_size=1"):
        models.transformer_lm(jax.random.key(0), vocab_size=1)
