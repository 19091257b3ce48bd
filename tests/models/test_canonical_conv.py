"""The canonical convolution equals lax.conv_general_dilated in value and to second order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from leakjax.models.canonical_conv import canonical_conv_general_dilated, conv_nhwc

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("pad", [((1, 1), (1, 1)), ((0, 0), (0, 0)), ((2, 1), (0, 2))])
def test_values_and_derivatives_match_lax(pad):
    k = jax.random.split(jax.random.key(0), 2)
    x = jax.random.normal(k[0], (2, 9, 7, 3))
    w = jax.random.normal(k[1], (3, 3, 3, 5))

    def ref(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), pad, dimension_numbers=DN)

    def new(x, w):
        return conv_nhwc(x, w, pad)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w)))

    def matching(conv):  # second order, as gradient matching differentiates a gradient
        return lambda x, w: jnp.sum(jax.grad(loss(conv), 1)(x, w) ** 2)

    np.testing.assert_allclose(new(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
    for arg in (0, 1):
        np.testing.assert_allclose(
            jax.grad(loss(new), arg)(x, w), jax.grad(loss(ref), arg)(x, w), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(
            jax.grad(matching(new), arg)(x, w),
            jax.grad(matching(ref), arg)(x, w),
            rtol=1e-3,
            atol=1e-3,
        )


def _loop_conv_labels(conv):
    x = jnp.ones((1, 8, 8, 2))
    w = jnp.ones((3, 3, 2, 4))

    def grad_norm(x):
        return jnp.sum(jax.grad(lambda w: jnp.sum(jnp.tanh(conv(x, w))))(w) ** 2)

    body = jax.jit(lambda x: lax.fori_loop(0, 2, lambda i, x: x - jax.grad(grad_norm)(x), x))
    hlo = body.lower(x).compile().as_text()
    return [
        line.split("dim_labels=")[1].split(",")[0]
        for line in hlo.splitlines()
        if "convolution(" in line
    ]


def test_weight_gradient_convolutions_stay_canonical_inside_a_loop():
    """Our convolution's second-order program keeps XLA's canonical layout inside a loop body.

    (Whether XLA leaves ``lax.conv_general_dilated``'s weight gradient non-canonical there is
    XLA's behaviour, measured in benchmarks/README.md, and not asserted here.)"""
    pad = ((1, 1), (1, 1))
    ours = _loop_conv_labels(lambda x, w: conv_nhwc(x, w, pad))
    assert len(ours) >= 3  # forward, input-gradient and weight-gradient convolutions
    # autodiff's weight-gradient form, which XLA:CPU runs slowly inside a loop body
    assert "f01b_i01o->01bf" not in ours
    # every convolution is canonical, also the second derivative of the weight gradient: when
    # that came from recursing into the swapped weight-gradient call, XLA laid it out as
    # 01fb_o01i->f01b (batch C_in, one output channel), about 10x below the matmul rate
    # (benchmarks/results/ig_profile.json, weight_grad_lever.json)
    assert all(lab == "b01f_01io->b01f" for lab in ours), ours


def test_other_cases_fall_back_to_lax():
    x = jax.random.normal(jax.random.key(1), (1, 8, 8, 2))
    w = jax.random.normal(jax.random.key(2), (3, 3, 2, 4))
    for kw in (
        dict(window_strides=(2, 2), padding=((1, 1), (1, 1))),
        dict(window_strides=(1, 1), padding="SAME"),
    ):
        got = canonical_conv_general_dilated(x, w, dimension_numbers=DN, **kw)
        want = lax.conv_general_dilated(x, w, dimension_numbers=DN, **kw)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
