"""Property tests (hypothesis) for every tier-1 defense transform."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakjax import defenses as D

SETTINGS = settings(max_examples=15, deadline=None)
# a few fixed shapes, so the eager primitives compile once per shape (the machine is slow)
N1 = st.sampled_from([5, 12])
N2 = st.sampled_from([1, 7])
SLICES = np.array([0, 7, 20, 33, 45])


def make_tree(seed, n1, n2, dtype=jnp.float32, ties=False):
    k1, k2 = jax.random.split(jax.random.key(seed))
    a = jax.random.normal(k1, (n1, 3))
    b = jax.random.normal(k2, (n2,))
    if ties:  # many entries with the same magnitude (and exact zeros)
        a = jnp.round(a * 2) / 2
        b = jnp.round(b)
    return {"a": a.astype(dtype), "b": b.astype(dtype)}


def all_tier1(key):
    return {
        "gaussian": D.gaussian_noise(0.1, key),
        "laplace": D.laplace_noise(0.1, key),
        "clip": D.clip_global_norm(1.0),
        "prune": D.prune_by_magnitude(0.4),
        "prune_pct": D.prune_by_magnitude(0.4, method="percentile"),
        "topk": D.topk_sparsify(0.3),
        "fp16": D.quantize("fp16"),
        "bf16": D.quantize("bf16"),
        "int8": D.quantize("int8"),
        "sign": D.quantize("sign"),
        "scaled_sign": D.quantize("scaled_sign"),
        "dgp": D.dual_gradient_pruning(0.1, 0.5),
        "outpost": D.outpost(key, beta=0.0),
        "graddefense": D.grad_defense(SLICES, key, perturb_slices_num=2, noise_std=0.1),
    }


def _apply(tx, g, params=None):
    params = g if params is None else params
    return tx.update(g, tx.init(params), params)


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 10_000), n1=N1, n2=N2, dtype=st.sampled_from([jnp.float32, jnp.bfloat16])
)
def test_shape_and_dtype_preserved(seed, n1, n2, dtype):
    g = make_tree(seed, n1, n2, dtype)
    for name, tx in all_tier1(jax.random.key(seed)).items():
        if name == "graddefense":
            g2 = make_tree(seed, 10, 15, dtype)  # 45 entries = SLICES[-1]
            out, _ = _apply(tx, g2)
            ref = g2
        else:
            out, _ = _apply(tx, g)
            ref = g
        for o, r in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
            assert o.shape == r.shape, name
            assert o.dtype == r.dtype, name


@SETTINGS
@given(seed=st.integers(0, 10_000), n1=N1, n2=N2, p=st.floats(0.0, 0.99), ties=st.booleans())
def test_prune_zeroes_exact_fraction_even_with_ties(seed, n1, n2, p, ties):
    g = make_tree(seed, n1, n2, ties=ties)
    g = jax.tree.map(lambda x: jnp.where(x == 0, 0.25, x), g)  # no zeros before pruning
    out, _ = _apply(D.prune_by_magnitude(p), g)
    for o, x in zip(jax.tree.leaves(out), jax.tree.leaves(g)):
        k = round(np.float32(p) * x.size)
        assert int(jnp.sum(o == 0)) == k
        kept = np.abs(np.asarray(x))[np.asarray(o) != 0]
        dropped = np.abs(np.asarray(x))[np.asarray(o) == 0]
        if kept.size and dropped.size:
            assert dropped.max() <= kept.min()  # the smallest magnitudes went


def test_prune_percentile_method_matches_numpy_and_keeps_ties():
    x = jnp.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    out, _ = _apply(D.prune_by_magnitude(0.25, method="percentile"), {"x": x})
    thresh = np.percentile(np.abs(np.asarray(x)), 25)
    np.testing.assert_array_equal(out["x"], np.where(np.abs(x) >= thresh, x, 0))
    # rank rule on ties: exactly round(0.75 * 8) = 6 zeros, first tied entries dropped first
    y = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    out, _ = _apply(D.prune_by_magnitude(0.75), {"x": y})
    np.testing.assert_array_equal(out["x"], [0, 0, 0, 0, 0, 0, 1.0, 2.0])


@SETTINGS
@given(seed=st.integers(0, 10_000), n1=N1, kf=st.floats(0.01, 1.0))
def test_topk_sends_exact_count(seed, n1, kf):
    g = make_tree(seed, n1, 7)
    out, _ = _apply(D.topk_sparsify(kf), g)
    for o, x in zip(jax.tree.leaves(out), jax.tree.leaves(g)):
        k = min(max(1, math.ceil(np.float32(kf) * x.size - 1e-3)), x.size)
        assert int(jnp.sum(o != 0)) == k


@SETTINGS
@given(seed=st.integers(0, 10_000), n1=N1, top=st.floats(0, 0.3), bot=st.floats(0, 0.6))
def test_dgp_sends_middle_band(seed, n1, top, bot):
    g = make_tree(seed, n1, 7)
    out, _ = _apply(D.dual_gradient_pruning(top, bot), g)
    for o, x in zip(jax.tree.leaves(out), jax.tree.leaves(g)):
        n = x.size
        kept = n - round(np.float32(top) * n) - round(np.float32(bot) * n)
        assert int(jnp.sum(o != 0)) == kept
        a = np.abs(np.asarray(x)).ravel()
        s = np.sort(a)
        sent = np.abs(np.asarray(o)).ravel()[np.asarray(o).ravel() != 0]
        if kept:
            assert sent.min() >= s[round(np.float32(bot) * n)] - 1e-7
            assert sent.max() <= s[n - round(np.float32(top) * n) - 1] + 1e-7


@SETTINGS
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["topk", "dgp"]), f=st.floats(0.05, 0.6))
def test_error_feedback_conserves_sent_plus_residual(seed, kind, f):
    tx = D.topk_sparsify(f) if kind == "topk" else D.dual_gradient_pruning(0.1, f * 0.8)
    gs = [make_tree(seed + i, 12, 7) for i in range(3)]
    state = tx.init(gs[0])
    total_sent = jax.tree.map(jnp.zeros_like, gs[0])
    for g in gs:
        res_before = state.residual
        sent, state = tx.update(g, state, g)
        for s_, r1, gg, r0 in zip(
            *(jax.tree.leaves(t) for t in (sent, state.residual, g, res_before))
        ):
            np.testing.assert_array_equal(s_ + r1, gg + r0)  # exact per round
        total_sent = jax.tree.map(jnp.add, total_sent, sent)
    grand = jax.tree.map(lambda *xs: sum(xs), *gs)
    for t, r, gr in zip(*(jax.tree.leaves(x) for x in (total_sent, state.residual, grand))):
        np.testing.assert_allclose(t + r, gr, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_same_key_same_output_and_fresh_noise_per_update(seed):
    g = make_tree(seed, 12, 7)
    for name in ("gaussian", "laplace", "outpost", "graddefense"):
        gg = make_tree(seed, 10, 15) if name == "graddefense" else g
        o1, s1 = _apply(all_tier1(jax.random.key(seed))[name], gg)
        o2, _ = _apply(all_tier1(jax.random.key(seed))[name], gg)
        for a, b in zip(jax.tree.leaves(o1), jax.tree.leaves(o2)):
            np.testing.assert_array_equal(a, b)
        tx = all_tier1(jax.random.key(seed))[name]
        o3, _ = tx.update(gg, s1, gg)  # second update draws new noise
        assert any(
            not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(o1), jax.tree.leaves(o3))
        ), name
    # int seeds work like keys
    o_int, _ = _apply(D.gaussian_noise(0.1, seed), g)
    o_key, _ = _apply(D.gaussian_noise(0.1, jax.random.key(seed)), g)
    np.testing.assert_array_equal(o_int["a"], o_key["a"])


PAIRS = [
    ("clip", "prune"),
    ("gaussian", "clip"),
    ("int8", "prune"),
    ("topk", "gaussian"),
    ("dgp", "fp16"),
    ("outpost", "scaled_sign"),
]


@pytest.mark.parametrize("a,b", PAIRS)
@pytest.mark.parametrize("flip", [False, True])
def test_chains_compose_in_either_order(a, b, flip):
    if flip:
        a, b = b, a
    g = make_tree(3, 12, 7)
    key = jax.random.key(11)
    ta, tb = all_tier1(key)[a], all_tier1(key)[b]
    chained = optax.chain(ta, tb)
    s = chained.init(g)
    out, s = jax.jit(chained.update)(g, s, g)
    out2, _ = chained.update(g, s, g)  # state round-trips
    ref_a, _ = ta.update(g, ta.init(g), g)
    ref, _ = tb.update(ref_a, tb.init(g), g)
    for x, y in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
    assert jax.tree.structure(out2) == jax.tree.structure(g)


def test_clip_rule_is_ggl():
    g = {"a": jnp.full((4,), 3.0)}  # norm 6
    out, _ = _apply(D.clip_global_norm(4.0), g)
    np.testing.assert_allclose(out["a"], 3.0 * 4.0 / (6.0 + 1e-6), rtol=1e-6)
    out, _ = _apply(D.clip_global_norm(10.0), g)
    np.testing.assert_array_equal(out["a"], g["a"])


def test_noise_std_and_variance_helper():
    g = {"a": jnp.zeros((200_00,))}
    out, _ = _apply(D.gaussian_noise(D.std_from_variance(1e-2), 0), g)
    assert abs(float(jnp.std(out["a"])) - 0.1) < 0.005
    out, _ = _apply(D.laplace_noise(D.laplace_scale_from_variance(1e-2), 0), g)
    assert abs(float(jnp.var(out["a"])) - 1e-2) < 1e-3


def test_quantizers():
    x = jnp.array([-2.0, -0.5, 0.0, 0.25, 1.0, 1e-9])
    q = {k: _apply(D.quantize(k), {"x": x})[0]["x"] for k in D.QUANT_KINDS}
    s = 2.0 / 127
    np.testing.assert_allclose(
        q["int8"], np.clip(np.round(np.asarray(x) / s), -127, 127) * s, rtol=1e-6
    )
    np.testing.assert_array_equal(q["sign"], np.sign(x))
    np.testing.assert_allclose(q["scaled_sign"], np.sign(x) * np.mean(np.abs(x)), rtol=1e-6)
    assert float(q["fp16"][-1]) == 0.0  # fp16 underflow
    assert float(q["bf16"][-1]) != 0.0  # bf16 keeps the fp32 range
    zero = _apply(D.quantize("int8"), {"x": jnp.zeros(3)})[0]["x"]
    np.testing.assert_array_equal(zero, 0.0)


def test_outpost_perturbs_intended_algorithm():
    key = jax.random.key(0)
    params = {"w": jax.random.normal(key, (6, 8)) * 0.3, "b": jnp.zeros((8,))}
    g = {"w": jax.random.normal(jax.random.key(1), (6, 8)), "b": jnp.ones((8,))}
    tx = D.outpost(key, beta=0.0, fisher_percent=100.0, prune_fraction=0.5, noise_base=0.0)
    out, st_ = tx.update(g, tx.init(params), params)
    assert int(st_.iteration) == 1
    assert int(jnp.sum(out["w"] == 0)) == 24  # pruned 50% (and noise_base 0)
    # beta huge -> probability ~0 of perturbing after the first steps: unchanged
    tx = D.outpost(key, beta=1e9)
    out, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_array_equal(out["w"], g["w"])
    # noise only where the Fisher mask is on: phi=0 -> no noise, only pruning
    tx = D.outpost(key, beta=0.0, fisher_percent=0.0, prune_fraction=0.0, noise_base=10.0)
    out, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(out["w"], g["w"])
    with pytest.raises(ValueError, match="params"):
        tx.update(g, tx.init(params))


def test_masked_targets_layers_and_checks_mask():
    g = {"a": jnp.arange(1.0, 9.0), "b": jnp.arange(1.0, 5.0)}
    tx = D.masked(D.prune_by_magnitude(0.5), {"a": True, "b": False})
    out, _ = tx.update(g, tx.init(g), g)
    assert int(jnp.sum(out["a"] == 0)) == 4
    np.testing.assert_array_equal(out["b"], g["b"])
    tx2 = D.masked(D.prune_by_magnitude(0.5), lambda p: D.mask_by_path(p, "^b"))
    out, _ = tx2.update(g, tx2.init(g), g)
    assert int(jnp.sum(out["b"] == 0)) == 2
    with pytest.raises(ValueError, match="mask"):
        D.masked(D.prune_by_magnitude(0.5), {"a": True}).init(g)
    # optax.partition routes too
    tx3 = optax.partition(
        {"p": D.prune_by_magnitude(0.5), "n": optax.identity()}, {"a": "n", "b": "p"}
    )
    out, _ = tx3.update(g, tx3.init(g), g)
    np.testing.assert_array_equal(out["a"], g["a"])


@pytest.mark.parametrize(
    "call,arg",
    [
        (lambda: D.prune_by_magnitude(1.0), "prune_fraction"),
        (lambda: D.prune_by_magnitude(-0.1), "prune_fraction"),
        (lambda: D.topk_sparsify(0.0), "keep_fraction"),
        (lambda: D.gaussian_noise(-1.0, 0), "noise_std"),
        (lambda: D.laplace_noise(-1.0, 0), "noise_scale"),
        (lambda: D.clip_global_norm(0.0), "max_norm"),
        (lambda: D.dual_gradient_pruning(0.5, 0.6), "top_fraction"),
        (lambda: D.dual_gradient_pruning(1.2, 0.0), "top_fraction"),
        (lambda: D.quantize("int4"), "kind"),
        (lambda: D.outpost(0, prune_fraction=1.5), "prune_fraction"),
        (lambda: D.prune_by_magnitude(0.5, method="median"), "method"),
        (lambda: D.grad_defense(SLICES, 0, perturb_slices_num=9), "perturb_slices_num"),
    ],
)
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_bad_key_type():
    with pytest.raises(TypeError, match="key"):
        D.gaussian_noise(0.1, jax.random.PRNGKey(0))
    with pytest.raises(TypeError, match="noise_std"):
        D.gaussian_noise("0.1", 0)


def test_global_norm_and_clip_are_safe_at_zero():
    """A zero update: norm 0 with a finite (zero) derivative, clipping leaves it at zero."""
    from leakjax.defenses._common import global_norm

    zero = {"a": jnp.zeros((3,)), "b": jnp.zeros((2, 2))}
    assert float(global_norm(zero)) == 0.0
    g = jax.grad(lambda t: global_norm(t))(zero)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(g))
    gc = jax.grad(lambda t: jnp.sum(D.clip_global_norm(1.0).update(t, None)[0]["a"]))(zero)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(gc))
    assert float(global_norm({"a": jnp.array([3.0, 4.0])})) == pytest.approx(5.0)
