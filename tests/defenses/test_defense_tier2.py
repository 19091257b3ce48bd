"""Tier-2 defenses: DP-SGD, Soteria, MixUp/InstaHide, GradDefense (clip, slices, compensation)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from leakjax import defenses as D
from leakjax.defenses._common import global_norm
from leakjax.fl import apply_defense, client_gradient, observe, per_example_gradients
from leakjax.models import from_fn, lenet, mlp
from leakjax.types import DataSpec

MODEL = lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4)
X = jax.random.uniform(jax.random.key(1), (3, 8, 8, 1))
Y = jnp.array([0, 1, 3])


def test_dp_sgd_zero_noise_is_mean_of_clipped_per_example_grads():
    c = 0.05
    out = apply_defense(jax.random.key(0), D.dp_sgd(c, 0.0), MODEL, MODEL.params, X, Y)
    per = per_example_gradients(MODEL)(MODEL.params, X, Y)
    norms = jnp.sqrt(
        sum(jnp.sum(jnp.square(t), axis=tuple(range(1, t.ndim))) for t in jax.tree.leaves(per))
    )
    coef = jnp.minimum(1.0, c / norms)
    ref = jax.tree.map(lambda t: jnp.mean(t * coef.reshape((-1,) + (1,) * (t.ndim - 1)), 0), per)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert float(global_norm(out)) <= c + 1e-6
    # noise std on the mean is sigma * C / B
    big = apply_defense(jax.random.key(0), D.dp_sgd(c, 100.0), MODEL, MODEL.params, X, Y)
    resid = jnp.concatenate(
        [(a - b).ravel() for a, b in zip(jax.tree.leaves(big), jax.tree.leaves(out))]
    )
    np.testing.assert_allclose(float(jnp.std(resid)), 100.0 * c / 3, rtol=0.05)


def test_dp_epsilon_matches_published_tuples():
    """Abadi et al. 2016 Sec. 3.1: q=0.01, sigma=4, delta=1e-5, T=10000 -> eps ~ 1.26 (moments
    accountant); Opacus' compute_dp_sgd_privacy docs: 60000 examples, batch 256, sigma=1.12,
    60 epochs, orders (10, 20, 100), delta=1e-5 -> eps = 2.95. Both use the classic RDP-to-DP
    conversion; the tight one is never larger."""
    abadi = D.dp_epsilon(4.0, 0.01, 10000, 1e-5, conversion="classic", orders=range(2, 65))
    assert abadi == pytest.approx(1.26, abs=0.005)
    steps = 60 * -(-60000 // 256)
    opacus = D.dp_epsilon(1.12, 256 / 60000, steps, 1e-5, conversion="classic", orders=[10, 20, 100])
    assert opacus == pytest.approx(2.95, abs=0.005)
    assert D.dp_epsilon(4.0, 0.01, 10000, 1e-5) < abadi
    with pytest.raises(ValueError, match="conversion='loose'"):
        D.dp_epsilon(4.0, 0.01, 10, 1e-5, conversion="loose")


def test_dp_epsilon_accountant():
    e1 = D.dp_epsilon(1.1, 0.01, 1000, 1e-5)
    e2 = D.dp_epsilon(2.0, 0.01, 1000, 1e-5)
    e3 = D.dp_epsilon(1.1, 0.01, 4000, 1e-5)
    assert 0 < e2 < e1 < e3
    assert 0.5 < e1 < 5  # Abadi et al. regime
    with pytest.raises(ValueError, match="delta"):
        D.dp_epsilon(1.1, 0.01, 10, 1.5)
    with pytest.raises(ValueError, match="steps"):
        D.dp_epsilon(1.1, 0.01, 0, 1e-5)


def test_soteria_masks_rows_of_classifier_kernel_only():
    g = client_gradient(MODEL)(MODEL.params, X, Y)
    out = apply_defense(jax.random.key(0), D.soteria(50.0), MODEL, MODEL.params, X, Y)
    kern, kern0 = MODEL.classifier_kernel(out), MODEL.classifier_kernel(g)
    zero_rows = np.asarray(jnp.all(kern == 0, axis=1))
    assert zero_rows.sum() == kern.shape[0] // 2  # 50% of D=48 features
    np.testing.assert_array_equal(kern[~zero_rows], kern0[~zero_rows])
    for path in (("conv0", "kernel"), ("classifier", "bias")):
        np.testing.assert_array_equal(out[path[0]][path[1]], g[path[0]][path[1]])
    # the pruned features are those with the smallest ||dr/dx|| / (r + 0.1)
    keep = D.soteria.__globals__["soteria_mask"](MODEL, MODEL.params, X, prune_percent=50.0)
    np.testing.assert_array_equal(np.asarray(keep), ~zero_rows)


def test_soteria_score_matches_per_feature_loop():
    from leakjax.defenses.soteria import soteria_mask

    m = mlp(jax.random.key(2), input_shape=(3, 3, 1), num_classes=2, hidden=(5,))
    x = jax.random.uniform(jax.random.key(3), (2, 3, 3, 1))
    r = m.features_fn(m.params, x)
    scores = []
    for f in range(r.shape[1]):
        jf = jax.grad(lambda xx, f=f: jnp.sum(m.features_fn(m.params, xx)[:, f]))(x)
        scores.append(float(jnp.sum(jnp.linalg.norm(jf.reshape(2, -1), axis=1) / (r[:, f] + 0.1))))
    keep = soteria_mask(m, m.params, x, prune_percent=40.0)
    np.testing.assert_array_equal(np.asarray(keep), np.abs(scores) >= np.percentile(scores, 40))


def test_soteria_needs_features_fn():
    m = from_fn(
        MODEL.apply_fn,
        MODEL.params,
        input_shape=(8, 8, 1),
        num_classes=4,
        classifier_path=("classifier", "kernel"),
    )
    if m.features_fn is not None:
        m = m.replace(features_fn=None)
    with pytest.raises(ValueError, match="features_fn"):
        apply_defense(jax.random.key(0), D.soteria(10.0), m, m.params, X, Y)


def test_mixup_and_instahide_encodings():
    from leakjax.defenses.mixing import encode

    x = jnp.arange(4.0).reshape(4, 1, 1, 1) + 1
    y = jnp.arange(4)
    xt, yt = encode(jax.random.key(0), x, y, k=3, alpha=1.0, num_classes=4)
    np.testing.assert_allclose(jnp.sum(yt, -1), 1.0, rtol=1e-6)
    # x~ = sum lam x_partner and the soft label carries the same weights (labels = ids here)
    np.testing.assert_allclose(xt.ravel(), yt @ (jnp.arange(4.0) + 1), rtol=1e-5)
    assert int(jnp.min(jnp.sum(yt > 0, -1))) == 3  # k distinct partners
    xs, _ = encode(jax.random.key(0), x, y, k=3, alpha=1.0, num_classes=4, sign_flip=True)
    np.testing.assert_allclose(jnp.abs(xs), jnp.abs(xt), rtol=1e-6)
    _, yb = encode(
        jax.random.key(1), x, y, k=4, alpha=(3.0, 1, 1, 1), num_classes=4, max_weight=0.65
    )
    assert float(jnp.max(yb)) <= 0.65 + 1e-6
    with pytest.raises(ValueError, match="max_weight"):
        D.mixup(4, max_weight=0.1)
    with pytest.raises(ValueError, match="k="):
        D.instahide(0)


def test_graddefense_slices_and_clip_variant():
    b = D.graddefense_slices(MODEL, X, Y, slices_num=5)
    n = sum(t.size for t in jax.tree.leaves(MODEL.params))
    assert b[0] == 0 and b[-1] == n and len(b) <= 6 and np.all(np.diff(b) > 0)
    tx = D.grad_defense(b, 0, perturb_slices_num=2, noise_std=1.0)
    g = client_gradient(MODEL)(MODEL.params, X, Y)
    out, _ = tx.update(g, tx.init(g))
    flat = jnp.concatenate([t.ravel() for t in jax.tree.leaves(out)])
    flat0 = jnp.concatenate([t.ravel() for t in jax.tree.leaves(g)])
    changed = [bool(jnp.any(flat[s:e] != flat0[s:e])) for s, e in zip(b[:-1], b[1:])]
    assert sum(changed) == 2  # exactly the perturbed slices

def test_graddefense_clip_is_per_example_clip_then_mean_plus_noise():
    """One slice covering everything: out = mean_i clip(g_i, s) + N(0, s^2), checked exactly
    against per-example gradients clipped by hand (the residual must be the noise alone)."""
    n = sum(t.size for t in jax.tree.leaves(MODEL.params))
    s = 1e-3
    out = apply_defense(
        jax.random.key(0),
        D.grad_defense_clip(np.array([0, n]), perturb_slices_num=1, noise_std=s),
        MODEL,
        MODEL.params,
        X,
        Y,
    )
    per = per_example_gradients(MODEL)(MODEL.params, X, Y)
    flat = jnp.stack(
        [jnp.concatenate([t[i].ravel() for t in jax.tree.leaves(per)]) for i in range(len(Y))]
    )
    norms = jnp.linalg.norm(flat, axis=1)
    assert float(jnp.min(norms)) > 10 * s  # every example is clipped
    clipped = jnp.mean(flat * (s / norms)[:, None], axis=0)
    got = jnp.concatenate([t.ravel() for t in jax.tree.leaves(out)])  # same leaf order
    resid = np.asarray(got - clipped)
    assert resid.size == n > 1000
    # pure N(0, s^2) noise: mean ~ 0 and std = s within sampling error (n ~ 7700 entries)
    assert abs(resid.mean()) < 5 * s / np.sqrt(n)
    assert abs(resid.std() / s - 1.0) < 0.05
    # without clipping the residual would carry the mean gradient (norm >> s * sqrt(n))
    unclipped = jnp.mean(flat, axis=0)
    assert float(jnp.linalg.norm(unclipped - clipped)) > 10 * s * np.sqrt(n)


def test_graddefense_compensation_removes_noise_bulk():
    key = jax.random.key(0)
    # low-rank signal + iid noise: compensation gets closer to the signal
    u = jax.random.normal(key, (600, 1)) @ jax.random.normal(jax.random.key(1), (1, 60))
    signal = {"w": u * 0.5}
    noisy = {"w": signal["w"] + 0.05 * jax.random.normal(jax.random.key(2), (600, 60))}
    comp = D.graddefense_compensate(noisy, noise_std=0.05, q=6.0)
    err0 = float(jnp.linalg.norm(noisy["w"] - signal["w"]))
    err1 = float(jnp.linalg.norm(comp["w"] - signal["w"]))
    assert err1 < 0.5 * err0


def test_observe_with_tier2_and_chain():
    spec = DataSpec("t", (8, 8, 1), 4)
    d, desc = D.parse_defense("dpsgd=1:0.1,quant=int8", 0)
    obs = observe(jax.random.key(0), MODEL, X, Y, spec=spec, defense=d)
    assert obs.defense == desc == "dpsgd=1:0.1,quant=int8"
    for t in jax.tree.leaves(obs.update):
        assert len(np.unique(np.asarray(t))) <= 255
    with pytest.raises(TypeError, match="tier-2"):
        optax.chain(D.soteria(10.0)).init(MODEL.params)
