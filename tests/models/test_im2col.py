"""The LeNet's convolution forms (im2col + matmul, space-to-depth) equal lax's to second order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from leakjax import fl, models
from leakjax.attacks.objectives import l2_distance
from leakjax.models.im2col import (
    im2col_conv,
    im2col_conv_general_dilated,
    space_to_depth_conv,
    space_to_depth_conv_general_dilated,
)
from leakjax.models.lenet import CONV_IMPLS

DN = ("NHWC", "HWIO", "NHWC")
CASES = [
    # strides, padding, input, kernel
    ((2, 2), ((2, 2), (2, 2)), (1, 12, 12, 3), (5, 5, 3, 4)),  # the LeNet's strided layer
    ((1, 1), ((2, 2), (2, 2)), (2, 6, 6, 4), (5, 5, 4, 4)),  # its stride-1 layer
    ((2, 3), ((1, 0), (0, 2)), (2, 9, 7, 3), (3, 4, 3, 5)),  # uneven strides and padding
    ((3, 3), ((0, 0), (0, 0)), (1, 11, 10, 2), (3, 3, 2, 4)),  # stride > kernel overlap
]


@pytest.mark.parametrize("form", [im2col_conv, space_to_depth_conv])
@pytest.mark.parametrize("strides,pad,xs,ws", CASES)
def test_values_and_derivatives_match_lax(form, strides, pad, xs, ws):
    k = jax.random.split(jax.random.key(0), 2)
    x, w = jax.random.normal(k[0], xs), jax.random.normal(k[1], ws)

    def ref(x, w):
        return lax.conv_general_dilated(x, w, strides, pad, dimension_numbers=DN)

    def new(x, w):
        return form(x, w, strides, pad)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w)))

    def matching(conv):  # second order, as gradient matching differentiates a gradient
        return lambda x, w: jnp.sum(jax.grad(loss(conv), 1)(x, w) ** 2)

    assert new(x, w).shape == ref(x, w).shape
    np.testing.assert_allclose(new(x, w), ref(x, w), rtol=1e-5, atol=1e-4)
    for arg in (0, 1):
        a, b = jax.grad(matching(new), arg)(x, w), jax.grad(matching(ref), arg)(x, w)
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(jnp.abs(b).max()))


@pytest.mark.parametrize("drop_in", [im2col_conv_general_dilated, space_to_depth_conv_general_dilated])
def test_drop_in_falls_back_for_dilation(drop_in):
    x = jax.random.normal(jax.random.key(1), (1, 9, 9, 2))
    w = jax.random.normal(jax.random.key(2), (3, 3, 2, 3))
    kw = dict(rhs_dilation=(2, 2), dimension_numbers=DN)
    out = drop_in(x, w, (1, 1), ((1, 1), (1, 1)), **kw)
    ref = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), **kw)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_lenet_forms_share_params_and_match_the_dlg_objective():
    key = jax.random.key(3)
    shape = (12, 12, 3)
    nets = {c: models.lenet(key, input_shape=shape, num_classes=5, conv_impl=c) for c in CONV_IMPLS}
    ref = nets["xla"]
    x = jax.random.uniform(jax.random.key(4), (1, *shape))
    obs = fl.observe(jax.random.key(0), ref, x, jnp.array([2]), spec=_spec(shape))
    dummy = jax.random.normal(jax.random.key(5), (1, *shape))
    z = jax.random.normal(jax.random.key(6), (1, 5))

    def objective(net):
        g = fl.client_gradient(net)
        return lambda d, z: l2_distance(g(obs.params, d, jax.nn.softmax(z, -1)), obs.update)

    v0, g0 = jax.value_and_grad(objective(ref), (0, 1))(dummy, z)
    for name, net in nets.items():
        assert jax.tree.structure(net.params) == jax.tree.structure(ref.params)
        for a, b in zip(jax.tree.leaves(net.params), jax.tree.leaves(ref.params)):
            np.testing.assert_array_equal(a, b)
        v, g = jax.value_and_grad(objective(net), (0, 1))(dummy, z)
        np.testing.assert_allclose(v, v0, rtol=1e-5, err_msg=name)
        for a, b in zip(g, g0):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.abs(b).max()))


def test_lenet_rejects_unknown_conv_impl():
    with pytest.raises(ValueError, match="conv_impl='fft'"):
        models.lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=2, conv_impl="fft")


def _spec(shape):
    from leakjax.types import DataSpec

    return DataSpec("t", shape, 5)
