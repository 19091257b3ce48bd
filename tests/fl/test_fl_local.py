"""Multi-step local training: LocalRecipe, local_update (vs a hand-written loop), observe_update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import fl, models
from leakjax.types import DataSpec


@pytest.fixture(scope="module")
def setup():
    m = models.mlp(jax.random.key(0), input_shape=(4, 4, 1), num_classes=3, hidden=(5,))
    x = jax.random.normal(jax.random.key(1), (5, 4, 4, 1))
    y = jnp.array([0, 1, 2, 1, 0])
    return m, x, y


def reference_loop(m, recipe, params, x, y):
    """PyTorch-style SGD(momentum, weight_decay), in-order mini-batches, partial last batch."""
    n = x.shape[0]
    b = min(recipe.batch_size, n)
    loss = fl.loss_fn(m)
    p = params
    buf = jax.tree.map(jnp.zeros_like, params)
    steps = recipe.num_steps(n)
    t = 0
    for _ in range(recipe.epochs):
        for s in range(0, n, b):
            g = jax.grad(loss)(p, x[s : s + b], y[s : s + b])
            g = jax.tree.map(lambda gi, pi: gi + recipe.weight_decay * pi, g, p)
            buf = jax.tree.map(lambda bi, gi: recipe.momentum * bi + gi, buf, g)
            lr = recipe.lr
            if recipe.schedule == "cosine":
                lr = recipe.lr * 0.5 * (1 + np.cos(np.pi * t / steps))
            p = jax.tree.map(lambda pi, bi, lr=lr: pi - lr * bi, p, buf)
            t += 1
    return jax.tree.map(lambda a, b: a - b, p, params)


@pytest.mark.parametrize(
    "recipe",
    [
        fl.LocalRecipe(epochs=1, batch_size=5, lr=0.1),
        fl.LocalRecipe(epochs=2, batch_size=2, lr=0.05, momentum=0.9, weight_decay=1e-2),
        fl.LocalRecipe(epochs=3, batch_size=3, lr=0.1, momentum=0.5, schedule="cosine"),
    ],
)
def test_local_update_matches_reference_loop(setup, recipe):
    m, x, y = setup
    ref = reference_loop(m, recipe, m.params, x, y)
    for remat in (True, False):
        d = jax.jit(lambda p, x, y, r=remat: fl.local_update(m, recipe, p, x, y, remat=r))(
            m.params, x, y
        )
        for a, b in zip(jax.tree.leaves(d), jax.tree.leaves(ref)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_one_full_batch_step_is_minus_lr_gradient(setup):
    m, x, y = setup
    d = fl.local_update(m, fl.LocalRecipe(epochs=1, batch_size=8, lr=0.3), m.params, x, y)
    g = fl.client_gradient(m)(m.params, x, y)
    for a, b in zip(jax.tree.leaves(d), jax.tree.leaves(g)):
        np.testing.assert_allclose(a, -0.3 * b, rtol=1e-5, atol=1e-7)


def test_local_update_is_differentiable_in_x(setup):
    m, x, y = setup
    r = fl.LocalRecipe(epochs=2, batch_size=2, lr=0.1, momentum=0.9)

    def f(x, remat):
        d = fl.local_update(m, r, m.params, x, y, remat=remat)
        return sum(jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(d))

    g1 = jax.grad(f)(x, True)
    g2 = jax.grad(f)(x, False)
    np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-7)
    assert float(jnp.abs(g1).sum()) > 0


def test_recipe_validation_and_plan():
    r = fl.LocalRecipe(epochs=2, batch_size=3, lr=1e-4)
    assert hash(r) == hash(fl.LocalRecipe(epochs=2, batch_size=3, lr=1e-4))
    assert r.num_steps(8) == 6
    idx, w = fl.batch_plan(r, 8)
    assert idx.shape == (6, 3)
    np.testing.assert_array_equal(w[2], [1, 1, 0])
    with pytest.raises(ValueError, match="epochs"):
        fl.LocalRecipe(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        fl.LocalRecipe(optimizer="lbfgs")


def test_observe_update(setup):
    m, _, y = setup
    spec = DataSpec("t", (4, 4, 1), 3)
    imgs = jax.random.uniform(jax.random.key(3), (5, 4, 4, 1))
    r = fl.LocalRecipe(epochs=2, batch_size=2, lr=0.1)
    o = fl.observe_update(jax.random.key(0), m, imgs, y, spec=spec, recipe=r, reveal_labels=True)
    assert o.kind == "delta" and o.local_steps == 6 and o.recipe == r and o.batch_size == 5
    np.testing.assert_array_equal(o.labels, y)
    with pytest.raises(TypeError, match="recipe"):
        fl.observe_update(jax.random.key(0), m, imgs, y, spec=spec, recipe=None)


def test_remat_auto_true_false_agree_and_auto_chooses_by_memory(monkeypatch):
    import leakjax.fl.local as local_mod
    from leakjax.fl.local import LocalRecipe, local_update

    model = models.lenet(jax.random.key(1), input_shape=(8, 8, 1), num_classes=4)
    x = jax.random.uniform(jax.random.key(2), (2, 8, 8, 1))
    y = jnp.array([1, 2])
    rec = LocalRecipe(epochs=3, batch_size=1, lr=0.1)

    def cost(x, remat):
        d = local_update(model, rec, model.params, x, y, remat=remat)
        return sum(jnp.sum(v**2) for v in jax.tree.leaves(d))

    out = {r: jax.value_and_grad(lambda x, r=r: cost(x, r))(x) for r in (True, False, "auto")}
    for r in (True, "auto"):
        np.testing.assert_allclose(out[r][0], out[False][0], rtol=1e-5)
        np.testing.assert_allclose(out[r][1], out[False][1], rtol=1e-4, atol=1e-7)

    def uses_remat(budget):
        monkeypatch.setattr(local_mod, "REMAT_AUTO_BYTES", budget)
        text = str(jax.make_jaxpr(lambda x: cost(x, "auto"))(x))
        return "remat" in text or "checkpoint" in text  # jax.checkpoint's primitive name

    assert uses_remat(0)  # nothing fits: rematerialize
    assert not uses_remat(1 << 40)  # everything fits: store the steps
    with pytest.raises(ValueError, match="remat='yes'"):
        local_update(model, rec, model.params, x, y, remat="yes")
