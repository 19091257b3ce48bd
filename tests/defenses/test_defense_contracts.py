"""Shared contract tests for every defense: tier 1 via tests/contracts.py, tier 2 analogues."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contracts import assert_defense_contract

from leakjax import defenses as D
from leakjax.fl import apply_defense, client_gradient
from leakjax.models import lenet

MODEL = lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4)
X = jax.random.uniform(jax.random.key(1), (3, 8, 8, 1))
Y = jnp.array([0, 1, 3])
G = client_gradient(MODEL)(MODEL.params, X, Y)
BOUNDS = D.graddefense_slices(MODEL, X, Y, slices_num=6)

TIER1_CASES = {
    "gaussian_noise": (lambda key, s=0.1: D.gaussian_noise(s, key), [0.0, 0.1]),
    "laplace_noise": (lambda key, s=0.1: D.laplace_noise(s, key), [0.0, 0.05]),
    "clip_global_norm": (lambda key, s=0.5: D.clip_global_norm(s), [0.1, 100.0]),
    "prune_by_magnitude": (lambda key, s=0.5: D.prune_by_magnitude(s), [0.1, 0.9]),
    "topk_sparsify": (lambda key, s=0.2: D.topk_sparsify(s), [0.05, 1.0]),
    "dual_gradient_pruning": (
        lambda key, s=0.05: D.dual_gradient_pruning(s, 0.5),
        [0.0, 0.2],
    ),
    "outpost": (lambda key, s=0.8: D.outpost(key, beta=0.0, noise_base=s), [0.0, 0.8]),
    "grad_defense": (
        lambda key, s=0.01: D.grad_defense(BOUNDS, key, perturb_slices_num=3, noise_std=s),
        [0.0, 0.01],
    ),
}


@pytest.mark.parametrize("name", sorted(TIER1_CASES))
def test_tier1_contract(name):
    make, values = TIER1_CASES[name]
    assert_defense_contract(make, G, MODEL.params, hyper_name="s", hyper_values=values)


@pytest.mark.parametrize("kind", ["int8", "scaled_sign"])  # others: same structure
def test_quantize_contract(kind):
    assert_defense_contract(lambda key: D.quantize(kind), G, MODEL.params)


def test_registry_covers_tiers():
    assert set(D.TIER1) <= set(TIER1_CASES) | {"quantize"}
    assert set(D.DEFENSES) == set(D.TIER1) | set(D.TIER2)


TIER2_CASES = {
    "dp_sgd": lambda: D.dp_sgd(1.0, 0.5),
    "soteria": lambda: D.soteria(50.0),
    "mixup": lambda: D.mixup(2, 1.0),
    "instahide": lambda: D.instahide(2),
    "grad_defense_clip": lambda: D.grad_defense_clip(BOUNDS, perturb_slices_num=3),
    "grad_defense_auto": lambda: D.GradDefenseAuto(0, slices_num=4, perturb_slices_num=2),
}


def _close(a, b, tol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(TIER2_CASES))
def test_tier2_contract(name):
    defense = TIER2_CASES[name]()
    assert isinstance(defense.description, str) and defense.description
    keys = jax.random.split(jax.random.key(5), 2)
    f = lambda k: apply_defense(k, defense, MODEL, MODEL.params, X, Y)  # noqa: E731
    ref = f(keys[0])
    traces = {"n": 0}

    def counted(k):
        traces["n"] += 1
        return f(k)

    jf = jax.jit(counted)
    _close(jf(keys[0]), ref)  # jit == no-jit
    jax.block_until_ready(jf(keys[1]))
    assert traces["n"] == 1  # no retrace
    out_v = jax.jit(jax.vmap(f))(keys)  # vmap over keys == loop
    for i in range(2):
        _close(jax.tree.map(lambda x, i=i: x[i], out_v), jf(keys[i]))
    assert jax.tree.structure(ref) == jax.tree.structure(MODEL.params)
    with pytest.raises(TypeError, match="tier-2"):
        defense.update(G, None)


def test_tier2_vmappable_strength():
    vals = jnp.array([0.5, 2.0])
    k = jax.random.key(0)
    out = jax.jit(
        jax.vmap(lambda c: apply_defense(k, D.dp_sgd(c, 0.5), MODEL, MODEL.params, X, Y))
    )(vals)
    for i, c in enumerate([0.5, 2.0]):
        ref = apply_defense(k, D.dp_sgd(c, 0.5), MODEL, MODEL.params, X, Y)
        _close(jax.tree.map(lambda x, i=i: x[i], out), ref, 1e-4)
    out = jax.jit(jax.vmap(lambda p: apply_defense(k, D.soteria(p), MODEL, MODEL.params, X, Y)))(
        jnp.array([10.0, 90.0])
    )
    kern = MODEL.classifier_kernel(out)
    rows_zero = jnp.sum(jnp.all(kern == 0, axis=-1), axis=-1)
    assert int(rows_zero[0]) < int(rows_zero[1])
