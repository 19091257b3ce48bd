"""Ghost-norm gradient matching equals the plain L2 distance of the client's gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import attacks, fl, models
from leakjax.attacks.ghost import ghost_l2_distance
from leakjax.attacks.objectives import l2_distance
from leakjax.types import DataSpec


@pytest.mark.parametrize("batch,soft", [(1, True), (2, True), (2, False)])
def test_equals_plain_distance_value_and_derivatives(tiny_lenet, batch, soft):
    model = tiny_lenet
    ghost = ghost_l2_distance(model)
    assert ghost is not None
    k = jax.random.split(jax.random.key(0), 4)
    x_true = jax.random.uniform(k[0], (batch, 8, 8, 1))
    target = fl.client_gradient(model)(model.params, x_true, jnp.arange(batch) % 4)
    x = jax.random.normal(k[1], (batch, 8, 8, 1))
    z = jax.random.normal(k[2], (batch, 4))
    y_int = jnp.array([3, 1][:batch])

    def labels(z):
        return jax.nn.softmax(z, -1) if soft else y_int

    def plain(x, z):
        g = fl.client_gradient(model)(model.params, x, labels(z))
        return l2_distance(g, target)

    def new(x, z):
        return ghost(model.params, x, labels(z), target)

    v0, g0 = jax.value_and_grad(plain, (0, 1))(x, z)
    v1, g1 = jax.value_and_grad(new, (0, 1))(x, z)
    assert float(v0) > 1e-3  # not at the solution: a wrong ghost term would show
    np.testing.assert_allclose(v1, v0, rtol=1e-5)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()) + 1e-7)


def test_not_used_without_an_affine_head():
    m = models.lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4)
    no_features = models.from_fn(
        m.apply_fn, m.params, input_shape=(8, 8, 1), num_classes=4,
        classifier_path=m.classifier_kernel_path,
    )
    assert ghost_l2_distance(no_features) is None
    # a head that is not features @ kernel + bias (logits scaled): the numeric check refuses it
    scaled = m.replace(apply_fn=lambda p, x: 2.0 * m.apply_fn(p, x))
    assert ghost_l2_distance(scaled) is None
    with pytest.raises(ValueError, match="ghost=True"):
        attacks.dlg(scaled, spec=DataSpec("t", (8, 8, 1), 4), ghost=True)


def test_dlg_objective_same_with_and_without_ghost(tiny_lenet, tiny_obs, tiny_spec):
    key = jax.random.key(5)
    out = {}
    for g in (False, True):
        att = attacks.dlg(tiny_lenet, spec=tiny_spec, ghost=g)
        s = att.init(key, tiny_obs)
        out[g] = att.result(s, tiny_obs)[2]
    np.testing.assert_allclose(out[True], out[False], rtol=1e-5)
