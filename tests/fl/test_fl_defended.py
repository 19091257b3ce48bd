"""Where defenses act (per local step or on the update), their state and their randomness."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from leakjax import defenses as D
from leakjax import fl, models
from leakjax.fl.defended import ClientDefense, rekey_state
from leakjax.types import DataSpec

SPEC = DataSpec("t", (4, 4, 1), 3)


@pytest.fixture(scope="module")
def setup():
    m = models.mlp(jax.random.key(0), input_shape=(4, 4, 1), num_classes=3, hidden=(6,))
    x = jax.random.uniform(jax.random.key(1), (4, 4, 4, 1))
    y = jnp.array([0, 1, 2, 1])
    return m, x, y


def _leaves_close(a, b, **kw):
    return all(
        np.allclose(np.asarray(u), np.asarray(v), **kw)
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_default_placements_follow_the_references():
    k = jax.random.key(0)
    step = [
        D.gaussian_noise(0.1, k),
        D.laplace_noise(0.1, k),
        D.prune_by_magnitude(0.5),
        D.clip_global_norm(1.0),
        D.outpost(k),
        D.soteria(50.0),
        D.dp_sgd(1.0, 1.0),
    ]
    update = [D.topk_sparsify(0.1), D.dual_gradient_pruning(), D.quantize("int8")]
    for d in step:
        assert fl.defended.default_placement(d) == "step", d
    for d in update:
        assert fl.defended.default_placement(d) == "update", d
    # chains keep a common tag and lose a mixed one (then: "step", documented)
    assert D.placement.chain(D.topk_sparsify(0.1), D.quantize("fp16")).placement == "update"
    assert (
        getattr(D.placement.chain(D.prune_by_magnitude(0.5), D.quantize("fp16")), "placement", None)
        is None
    )
    assert D.parse_defense("topk=0.1,quant=fp16", 0)[0].placement == "update"
    with pytest.raises(ValueError, match="defense_placement='everywhere'"):
        fl.LocalRecipe(defense_placement="everywhere")


def test_outpost_per_step_equals_hand_loop(setup):
    """local_update with Outpost per step == a hand loop that defends each step's gradient
    and carries the state (the counter reaches K)."""
    m, x, y = setup
    recipe = fl.LocalRecipe(epochs=2, batch_size=2, lr=0.1, defense_placement="step")
    d = D.outpost(0, beta=0.5)
    key = jax.random.key(3)
    delta, state = fl.local_update(
        m, recipe, m.params, x, y, defense=d, key=key, remat=False, return_state=True
    )
    assert int(state.iteration) == recipe.num_steps(4) == 4
    s = ClientDefense.build(d).init(key, m.params)
    p = m.params
    grad = jax.grad(fl.loss_fn(m))
    for t in range(4):
        i = slice((t % 2) * 2, (t % 2) * 2 + 2)
        g, s = d.update(grad(p, x[i], y[i]), s, p)
        p = jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
    ref = jax.tree.map(lambda a, b: a - b, p, m.params)
    assert _leaves_close(delta, ref, rtol=1e-5, atol=1e-6)
    # remat gives the same result
    d2 = fl.local_update(m, recipe, m.params, x, y, defense=d, key=key, remat=True)
    assert _leaves_close(d2, delta, rtol=1e-5, atol=1e-6)
    # on the update instead: a different update (the defense acts once, on the pseudo-gradient)
    d3 = fl.local_update(
        m,
        recipe.replace(defense_placement="update"),
        m.params,
        x,
        y,
        defense=D.outpost(0, beta=0.0),
        key=key,
    )
    d4 = fl.local_update(m, recipe, m.params, x, y, defense=D.outpost(0, beta=0.0), key=key)
    assert not _leaves_close(d3, d4, atol=1e-6)


def test_outpost_decays_over_local_steps_statistically():
    """P(perturb at local iteration t) = 1 / (1 + beta t), t = 1..K, over 4000 keys."""
    params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)}
    g = {"w": jnp.linspace(0.1, 1.2, 12).reshape(3, 4)}
    beta, k_steps, n = 0.5, 6, 4000

    def one(key):
        tx = D.outpost(0, beta=beta, prune_fraction=0.5, noise_base=0.0)
        state = rekey_state(tx.init(params), key)

        def body(s, _):
            out, s = tx.update(g, s, params)
            return s, jnp.any(out["w"] != g["w"])

        return jax.lax.scan(body, state, None, length=k_steps)[1]

    hits = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), n)))
    freq = hits.mean(axis=0)
    expect = 1.0 / (1.0 + beta * np.arange(1, k_steps + 1))
    sigma = np.sqrt(expect * (1 - expect) / n)
    assert np.all(np.abs(freq - expect) < 4 * sigma), (freq, expect)
    assert freq[0] > freq[-1] + 0.2  # it really decays


def test_outpost_risk_fisher_mask_and_noise_against_hand_computation():
    rng = np.random.default_rng(0)
    params = {
        "a": {
            "kernel": rng.normal(0, 0.3, (5, 4)).astype(np.float32),
            "bias": rng.normal(0, 2.0, (4,)).astype(np.float32),
        },
        "b": {"kernel": rng.normal(0, 4.0, (4, 3)).astype(np.float32)},
    }
    g = jax.tree.map(lambda p: rng.normal(0, 1, p.shape).astype(np.float32), params)
    phi, base = 40.0, 0.8
    # hand computation (flax kernels are (in, out): Fisher = mean of g^2 over the last axis)
    risk = {k: {n: min(np.var(v, ddof=1), 1.0) for n, v in d.items()} for k, d in params.items()}
    fisher = {
        k: {
            n: (np.mean(v**2, axis=-1) if v.ndim > 1 else np.mean(v**2).reshape(1))
            for n, v in d.items()
        }
        for k, d in g.items()
    }
    pool = np.concatenate([fisher[k][n].ravel() for k in fisher for n in fisher[k]])
    thresh = np.percentile(pool, 100 - phi)
    tx = D.outpost(0, beta=0.0, fisher_percent=phi, prune_fraction=0.0, noise_base=base)
    outs = jax.jit(jax.vmap(lambda k: tx.update(g, rekey_state(tx.init(params), k), params)[0]))(
        jax.random.split(jax.random.key(1), 2000)
    )
    for k in params:
        for n in params[k]:
            gv = g[k][n]
            noise = np.asarray(outs[k][n]) - gv
            fm = fisher[k][n] >= thresh
            mask = np.broadcast_to(fm[..., None] if gv.ndim > 1 else fm.reshape(()), gv.shape)
            assert np.all(noise[:, ~mask] == 0), f"{k}/{n}: noise outside the Fisher mask"
            if mask.any():
                std = noise[:, mask].std()
                np.testing.assert_allclose(std, risk[k][n] * base, rtol=0.05, err_msg=f"{k}/{n}")
    assert risk["b"]["kernel"] == 1.0  # capped
    # pruning: exactly round(p n) smallest |g| zeroed per tensor when it perturbs
    txp = D.outpost(0, beta=0.0, prune_fraction=0.5, noise_base=0.0)
    out = txp.update(g, txp.init(params), params)[0]
    for k in params:
        for n in params[k]:
            o, gv = np.asarray(out[k][n]), g[k][n]
            z = round(0.5 * gv.size)
            assert (o == 0).sum() == z
            assert np.abs(gv[o == 0]).max() <= np.abs(gv[o != 0]).min()


SPECS_ALL = [
    "noise_std=0.01",
    "noise_var=1e-4",
    "laplace=0.01",
    "laplace_var=1e-4",
    "clip=1e-3",
    "prune=0.5",
    "topk=0.3",
    "dgp=0.1:0.3",
    "quant=fp16",
    "quant=int8",
    "quant=sign",
    "outpost=0",
    "graddefense",
    "soteria=50",
    "dpsgd=1:1",
    "mixup=2",
    "instahide=2",
]


@pytest.mark.parametrize("spec", SPECS_ALL)
def test_every_defense_changes_the_update(setup, spec):
    """Fails for a defense that returns its input unchanged, per gradient and per local step."""
    m, x, y = setup
    d, _ = D.parse_defense(spec, 0)
    key = jax.random.key(5)
    clean = fl.apply_defense(key, None, m, m.params, x, y)
    out = fl.apply_defense(key, d, m, m.params, x, y)
    assert not _leaves_close(out, clean, rtol=0, atol=0), f"{spec} returned its input"
    recipe = fl.LocalRecipe(epochs=1, batch_size=2, lr=0.1)
    plain = fl.local_update(m, recipe, m.params, x, y)
    for placement in ("step", "update"):
        r = recipe.replace(defense_placement=placement)
        dd = fl.local_update(m, r, m.params, x, y, defense=d, key=key)
        assert not _leaves_close(dd, plain, rtol=0, atol=0), f"{spec} ({placement}) no-op"


TIER1 = [
    "noise_std=0.01",
    "laplace=0.01",
    "clip=1e-2",
    "prune=0.5",
    "topk=0.3",
    "dgp=0.1:0.3",
    "quant=int8",
    "outpost=0",
    "prune=0.3,noise_std=0.01",
]


@pytest.mark.parametrize("spec", TIER1)
def test_step_and_update_agree_for_one_local_step(setup, spec):
    m, x, y = setup
    d, _ = D.parse_defense(spec, 0)
    key = jax.random.key(7)
    recipe = fl.LocalRecipe(epochs=1, batch_size=4, lr=0.1)  # K = 1, plain SGD
    a = fl.local_update(
        m, recipe.replace(defense_placement="step"), m.params, x, y, defense=d, key=key
    )
    b = fl.local_update(
        m, recipe.replace(defense_placement="update"), m.params, x, y, defense=d, key=key
    )
    assert _leaves_close(a, b, rtol=1e-4, atol=1e-6)
    # and both equal -lr * the FedSGD observation with the same key
    g = fl.apply_defense(key, d, m, m.params, x, y)
    assert _leaves_close(a, jax.tree.map(lambda v: -0.1 * v, g), rtol=1e-4, atol=1e-6)


def test_fresh_randomness_from_the_call_key(setup):
    m, x, y = setup
    d = D.gaussian_noise(0.1, 0)  # built once, reused
    img = x * 0.5 + 0.25
    o1 = fl.observe(jax.random.key(1), m, img, y, spec=SPEC, defense=d)
    o1b = fl.observe(jax.random.key(1), m, img, y, spec=SPEC, defense=d)
    o2 = fl.observe(jax.random.key(2), m, img, y, spec=SPEC, defense=d)
    assert _leaves_close(o1.update, o1b.update, rtol=0, atol=0)  # same key, same output
    assert not _leaves_close(o1.update, o2.update, atol=1e-3)  # new key, new noise
    # different victims (one key each): the noise itself differs, not just the gradient
    clean = [
        fl.observe(jax.random.key(0), m, img[i : i + 1], y[i : i + 1], spec=SPEC) for i in (0, 1)
    ]
    noisy = [
        fl.observe(jax.random.key(10 + i), m, img[i : i + 1], y[i : i + 1], spec=SPEC, defense=d)
        for i in (0, 1)
    ]
    n0, n1 = (jax.tree.map(jnp.subtract, a.update, b.update) for a, b in zip(noisy, clean))
    assert not _leaves_close(n0, n1, atol=1e-3)
    # multi-step updates and tier-2 defenses too
    r = fl.LocalRecipe(epochs=1, batch_size=2, lr=0.1)
    for dd in (d, D.dp_sgd(1.0, 1.0)):
        u1 = fl.observe_update(jax.random.key(1), m, img, y, spec=SPEC, recipe=r, defense=dd)
        u1b = fl.observe_update(jax.random.key(1), m, img, y, spec=SPEC, recipe=r, defense=dd)
        u2 = fl.observe_update(jax.random.key(2), m, img, y, spec=SPEC, recipe=r, defense=dd)
        assert _leaves_close(u1.update, u1b.update, rtol=0, atol=0)
        assert not _leaves_close(u1.update, u2.update, atol=1e-4)
    with pytest.raises(TypeError, match="key="):
        fl.local_update(m, r, m.params, x, y, defense=d, key=None)


def test_tier2_needs_full_batches(setup):
    m, x, y = setup
    with pytest.raises(ValueError, match="batch_size=3 does not divide"):
        fl.local_update(
            m,
            fl.LocalRecipe(batch_size=3),
            m.params,
            x,
            y,
            defense=D.dp_sgd(1.0, 1.0),
            key=jax.random.key(0),
        )


def test_fedavg_carries_client_state_across_rounds(setup):
    m, _, _ = setup
    xs = jax.random.uniform(jax.random.key(2), (30, 4, 4, 1))
    ys = jnp.arange(30) % 3
    common = dict(
        num_clients=2, rounds=3, local_steps=2, batch_size=2, lr=0.1, snapshot_rounds=(2, 3)
    )
    r = fl.fedavg(jax.random.key(0), m, xs, ys, xs, ys, defense=D.outpost(0), **common)
    # Outpost's counter keeps counting over the clients' local steps across rounds
    assert np.asarray(r.snapshots[2][1].iteration).tolist() == [2, 2]
    assert np.asarray(r.snapshots[3][1].iteration).tolist() == [4, 4]
    # top-k's error-feedback residual (on the update) survives the round
    r2 = fl.fedavg(jax.random.key(0), m, xs, ys, xs, ys, defense=D.topk_sparsify(0.2), **common)
    resid = r2.snapshots[2][1].residual
    assert max(float(jnp.abs(v).max()) for v in jax.tree.leaves(resid)) > 0
    # deterministic for a key; the noise differs across keys
    n1 = fl.fedavg(jax.random.key(0), m, xs, ys, xs, ys, defense=D.gaussian_noise(0.5, 0), **common)
    n1b = fl.fedavg(
        jax.random.key(0), m, xs, ys, xs, ys, defense=D.gaussian_noise(0.5, 0), **common
    )
    n2 = fl.fedavg(jax.random.key(1), m, xs, ys, xs, ys, defense=D.gaussian_noise(0.5, 0), **common)
    assert _leaves_close(n1.params, n1b.params, rtol=0, atol=0)
    assert not _leaves_close(n1.params, n2.params, atol=1e-3)


def test_as_defense_transform_is_a_stateless_recipe_defense(setup):
    m, x, y = setup
    sim = lambda u: jax.tree.map(lambda v: 0.5 * v, u)  # noqa: E731
    r = fl.LocalRecipe(epochs=1, batch_size=4, lr=0.1, defense_placement="step")
    a = fl.local_update(
        m, r, m.params, x, y, defense=fl.defended.as_defense_transform(sim), key=jax.random.key(0)
    )
    b = fl.local_update(m, r.replace(lr=0.05), m.params, x, y)
    assert _leaves_close(a, b, rtol=1e-5, atol=1e-7)
    assert isinstance(fl.defended.as_defense_transform(sim), optax.GradientTransformation)
