"""Issue 13.5: every tier-1 defense and DP-SGD act on a text model's update unchanged.

Each defense of the spec language that takes a plain update (tier 1) is applied by
``observe_text`` to a tiny causal transformer's gradient, and the test checks what that defense
must do to it, so a defense that returned its input, or never reached the text path, fails."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from leakjax import models
from leakjax.defenses import parse_defense
from leakjax.defenses.spec import SYNTAX, TIER2
from leakjax.fl import observe_text

TIER1_SPECS = {
    "noise_std": "noise_std=0.01",
    "noise_var": "noise_var=1e-4",
    "laplace": "laplace=0.01",
    "laplace_var": "laplace_var=1e-4",
    "clip": "clip=0.01",
    "prune": "prune=0.9",
    "topk": "topk=0.1",
    "dgp": "dgp=0.05:0.8",
    "quant": "quant=int8",
    "outpost": "outpost=0",  # beta 0: it perturbs at every step
}


@pytest.fixture(scope="module")
def lm_and_clean():
    lm = models.transformer_lm(
        jax.random.key(0), vocab_size=16, context=5, num_layers=1, d_model=8, num_heads=2, d_ff=8
    )
    ids = jnp.array([[1, 5, 2, 9, 3]])
    clean = jax.jit(lambda k: observe_text(k, lm, ids))(jax.random.key(1)).update
    return lm, ids, clean


def _leaves(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def test_every_tier1_defense_is_covered():
    assert set(TIER1_SPECS) == set(SYNTAX) - set(TIER2)


@pytest.mark.parametrize("name", sorted(TIER1_SPECS))
def test_tier1_defense_acts_on_a_text_update(name, lm_and_clean):
    lm, ids, clean = lm_and_clean
    defense, _ = parse_defense(TIER1_SPECS[name], 0)
    assert isinstance(defense, optax.GradientTransformation)
    got = jax.jit(lambda k: observe_text(k, lm, ids, defense=defense))(jax.random.key(1)).update
    assert jax.tree.structure(got) == jax.tree.structure(clean)
    g, c = _leaves(got), _leaves(clean)
    assert all(np.all(np.isfinite(x)) for x in g)
    assert any(not np.allclose(a, b) for a, b in zip(g, c)), f"{name} returned its input"
    flat_g, flat_c = np.concatenate([x.ravel() for x in g]), np.concatenate([x.ravel() for x in c])
    if name == "clip":
        assert np.linalg.norm(flat_g) == pytest.approx(0.01, rel=1e-4)
        assert np.linalg.norm(flat_c) > 0.01
    if name in ("prune", "topk"):  # at least floor(0.9 n) of every tensor's n entries zeroed
        for a in g:
            if a.size >= 10:
                assert np.sum(a == 0) >= np.floor(0.9 * a.size), (name, a.shape)
    if name == "quant":  # int8: every tensor has at most 256 distinct values
        assert all(len(np.unique(a)) <= 256 for a in g)
    if name.startswith(("noise", "laplace")):  # additive: absent tokens' zero rows get noise
        assert np.sum(flat_c == 0) > 50 and np.sum(flat_g == 0) < np.sum(flat_c == 0) / 10


def test_dpsgd_acts_on_a_text_update(lm_and_clean):
    lm, ids, clean = lm_and_clean
    defense, _ = parse_defense("dpsgd=0.01:1.0", 0)
    got = jax.jit(lambda k: observe_text(k, lm, ids, defense=defense))(jax.random.key(1)).update
    g = np.concatenate([x.ravel() for x in _leaves(got)])
    c = np.concatenate([x.ravel() for x in _leaves(clean)])
    assert np.all(np.isfinite(g)) and not np.allclose(g, c)
    # noise std = 1.0 x clip 0.01 on every entry, far above the clipped gradient's entries
    assert np.std(g - c * min(1.0, 0.01 / np.linalg.norm(c))) == pytest.approx(0.01, rel=0.1)
