"""Spec parsing, communication bits and the adaptive simulation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from leakjax import defenses as D
from leakjax.fl import client_gradient
from leakjax.models import lenet

MODEL = lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4)
X = jax.random.uniform(jax.random.key(1), (2, 8, 8, 1))
Y = jnp.array([0, 2])
G = client_gradient(MODEL)(MODEL.params, X, Y)


@pytest.mark.parametrize(
    "spec,kind",
    [
        ("noise_std=0.01", optax.GradientTransformation),
        ("noise_var=1e-3", optax.GradientTransformation),
        ("laplace=0.1", optax.GradientTransformation),
        ("clip=4", optax.GradientTransformation),
        ("prune=0.9", optax.GradientTransformation),
        ("topk=0.1", optax.GradientTransformation),
        ("dgp=0.05:0.8", optax.GradientTransformation),
        ("dgp", optax.GradientTransformation),
        ("quant=int8", optax.GradientTransformation),
        ("outpost", optax.GradientTransformation),
        ("clip=4,noise_std=0.01", optax.GradientTransformation),
        ("soteria=60", D.Soteria),
        ("dpsgd=1.0:1.1", D.DPSGD),
        ("graddefense", D.GradDefenseAuto),
        ("mixup=2", D.InputMixing),
        ("dpsgd=1:1,quant=fp16", D.Tier2ThenTier1),
    ],
)
def test_parse_defense_accepts(spec, kind):
    d, desc = D.parse_defense(spec, 0)
    assert isinstance(d, kind)
    assert desc == spec.replace(" ", "")


def test_parse_defense_none_and_semantics():
    assert D.parse_defense("", 0) == (None, "")
    assert D.parse_defense("none", 0) == (None, "")
    d, _ = D.parse_defense("noise_var=1e-2", 3)
    out, _ = d.update({"a": jnp.zeros(20000)}, d.init({"a": jnp.zeros(20000)}))
    assert abs(float(jnp.std(out["a"])) - 0.1) < 0.005  # variance -> std = sqrt(var)
    d, _ = D.parse_defense("clip=4,prune=0.5", 0)
    out, _ = d.update(G, d.init(G))
    ref, _ = D.prune_by_magnitude(0.5).update(D.clip_global_norm(4.0).update(G, ())[0], ())
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("foo=1", "unknown defense 'foo'"),
        ("prune=1.2", "prune=1.2.*prune_fraction"),
        ("prune=abc", "not a number"),
        ("prune", "needs a value"),
        ("quant=int4", "unknown kind"),
        ("noise_std=-1", "noise_std"),
        ("dgp=0.5", "TOP:BOTTOM"),
        ("dgp=0.5:0.6", "sum"),
        ("clip=4,soteria=10", "first item"),
        ("dpsgd=1", "CLIP:NOISE_MULTIPLIER"),
        ("clip=4,,prune=0.1", "empty item"),
        ("soteria=100", "PERCENT"),
    ],
)
def test_parse_defense_rejects_with_syntax(spec, match):
    with pytest.raises(ValueError, match=match):
        D.parse_defense(spec, 0)


def test_upload_bits_encodings():
    n = 1000
    dense = {"a": jnp.ones(n)}
    assert float(D.upload_bits(dense)) == 32 * n == D.dense_bits(dense)
    assert float(D.upload_bits(dense, "fp16")) == 16 * n
    assert float(D.upload_bits(dense, "int8")) == 8 * n + 32
    assert float(D.upload_bits(dense, "sign")) == n
    assert float(D.upload_bits(dense, "scaled_sign")) == n + 32
    few = {"a": jnp.zeros(n).at[:10].set(1.0)}  # 10 nonzeros: index list is cheapest
    assert float(D.upload_bits(few)) == 10 * (32 + math.ceil(math.log2(n)))
    half = {"a": jnp.zeros(n).at[:500].set(1.0)}  # 50%: bitmap is cheapest
    assert float(D.upload_bits(half)) == n + 500 * 32
    assert float(jax.jit(D.upload_bits)(half)) == n + 500 * 32
    assert D.spec_wire_format("prune=0.5,quant=int8") == D.WIRE_FORMATS["int8"]
    with pytest.raises(ValueError, match="transform_kind"):
        D.upload_bits(dense, "int4")


def test_simulation_reproduces_defenses():
    trial = jax.tree.map(lambda g: g * 1.3 + 0.01, G)
    # clip: to the observed norm
    obs, _ = D.clip_global_norm(0.1).update(G, ())
    sim = jax.jit(D.make_simulation("clip", obs))(trial)
    np.testing.assert_allclose(float(D._common.global_norm(sim)), 0.1, rtol=1e-4)
    # prune: the same fraction zeroed per tensor, estimated from the observation
    obs, _ = D.prune_by_magnitude(0.7).update(G, ())
    sim = D.make_simulation("prune", obs)(trial)
    for s, o in zip(jax.tree.leaves(sim), jax.tree.leaves(obs)):
        assert int(jnp.sum(s == 0)) == int(jnp.sum(o == 0))
    sim_self = D.make_simulation("prune", obs)(G)  # applied to the true gradient: exact
    for s, o in zip(jax.tree.leaves(sim_self), jax.tree.leaves(obs)):
        np.testing.assert_array_equal(s, o)
    # dgp with the known top fraction, applied to the true gradient (no residual): exact
    tx = D.dual_gradient_pruning(0.1, 0.6)
    obs, _ = tx.update(G, tx.init(G))
    sim_self = D.make_simulation("dgp", obs, top_fraction=0.1)(G)
    for s, o in zip(jax.tree.leaves(sim_self), jax.tree.leaves(obs)):
        np.testing.assert_array_equal(s, o)
    # copy_mask
    sim = D.make_simulation("topk", obs, copy_mask=True)(trial)
    for s, o in zip(jax.tree.leaves(sim), jax.tree.leaves(obs)):
        np.testing.assert_array_equal(s != 0, o != 0)
    # soteria: zero pattern of the classifier kernel copied
    from leakjax.fl import apply_defense

    obs = apply_defense(jax.random.key(0), D.soteria(50.0), MODEL, MODEL.params, X, Y)
    sim = D.make_simulation("soteria", obs, model=MODEL)(trial)
    k_obs, k_sim = MODEL.classifier_kernel(obs), MODEL.classifier_kernel(sim)
    np.testing.assert_array_equal(jnp.all(k_obs == 0, 1), jnp.all(k_sim == 0, 1))
    np.testing.assert_array_equal(sim["conv0"]["kernel"], trial["conv0"]["kernel"])
    # quant: value quantized, derivative straight-through
    q = D.make_simulation("quant", G, kind="int8")
    np.testing.assert_allclose(
        q(G)["conv0"]["kernel"], D.quantize("int8").update(G, ())[0]["conv0"]["kernel"], atol=1e-7
    )
    d = jax.grad(lambda t: jnp.sum(q(t)["conv0"]["kernel"]))(G)
    np.testing.assert_allclose(d["conv0"]["kernel"], 1.0)
    # noise: identity; differentiable through prune
    assert D.make_simulation("noise", G)(trial) is trial
    dp = jax.grad(lambda t: jnp.sum(D.make_simulation("prune", obs)(t)["conv1"]["kernel"]))(trial)
    assert float(jnp.sum(dp["conv1"]["kernel"])) > 0


def test_simulation_bad_input():
    with pytest.raises(ValueError, match="name"):
        D.make_simulation("foo", G)
    with pytest.raises(ValueError, match="model"):
        D.make_simulation("soteria", G)
    with pytest.raises(ValueError, match="kind"):
        D.make_simulation("quant", G, kind="int4")
    with pytest.raises(ValueError, match="unexpected keyword"):
        D.make_simulation("clip", G, top_fraction=0.1)
