"""Geiping's ConvNet and the CIFAR ResNets: shapes, BatchNorm modes, BN statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import models


def test_convnet_architecture():
    m = models.convnet(jax.random.key(0), width=2, num_classes=5)
    convs = [k for k in m.params if k.startswith("conv")]
    assert convs == [f"conv{i}" for i in range(8)]
    chans = [m.params[f"conv{i}"]["kernel"].shape[-1] for i in range(8)]
    assert chans == [2, 4, 4, 8, 8, 8, 8, 8]
    # 32 -> maxpool3 -> 10 -> maxpool3 -> 3: 3 * 3 * 4w = 36w features
    assert m.classifier_kernel(m.params).shape == (36 * 2, 5)
    x = jax.random.normal(jax.random.key(1), (3, 32, 32, 3))
    assert m.apply(m.params, x).shape == (3, 5)
    assert m.features_fn(m.params, x).shape == (3, 72)
    assert m.bn_mode == "eval"


def test_bn_mode_is_explicit_and_matters():
    e = models.convnet(jax.random.key(0), width=1, input_shape=(9, 9, 1), bn_mode="eval")
    t = models.convnet(jax.random.key(0), width=1, input_shape=(9, 9, 1), bn_mode="train")
    x = 3.0 + jax.random.normal(jax.random.key(1), (4, 9, 9, 1))
    assert e.bn_mode == "eval" and t.bn_mode == "train"
    assert not np.allclose(e.apply(e.params, x), t.apply(t.params, x))
    with pytest.raises(ValueError, match="bn_mode"):
        models.convnet(jax.random.key(0), width=1, bn_mode="none")


def test_bn_statistics_fn():
    m = models.convnet(jax.random.key(0), width=1, input_shape=(9, 9, 1), bn_mode="train")
    x = 2.0 + 0.5 * jax.random.normal(jax.random.key(1), (4, 9, 9, 1))
    stats = jax.jit(m.extra["bn_stats_fn"])(m.params, x)
    assert len(stats) == 8
    mu, var, run_mu, run_var = stats[0]
    # the first BN's input is conv0(x): check against a direct computation
    h = (
        jax.lax.conv_general_dilated(
            x,
            m.params["conv0"]["kernel"],
            (1, 1),
            ((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        + m.params["conv0"]["bias"]
    )
    np.testing.assert_allclose(mu, h.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(var, h.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(run_mu, 0.0)
    np.testing.assert_allclose(run_var, 1.0)


def test_resnet20_family_and_resnet18():
    m = models.resnet20(jax.random.key(0), input_shape=(8, 8, 3), num_classes=4, width=1)
    blocks = [k for k in m.params if k.startswith("stage")]
    assert len(blocks) == 9  # 3 stages x 3 blocks for depth 20
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
    assert m.apply(m.params, x).shape == (2, 4)
    assert m.classifier_kernel(m.params).shape == (64, 4)
    assert bool(jnp.all(m.features_fn(m.params, x) >= 0))  # ReLU + average pool
    m32 = models.resnet20(jax.random.key(0), input_shape=(8, 8, 3), depth=32, width=2)
    assert len([k for k in m32.params if k.startswith("stage")]) == 15
    assert m32.classifier_kernel(m32.params).shape[0] == 128
    with pytest.raises(ValueError, match="depth"):
        models.resnet20(jax.random.key(0), depth=21)
    r18 = models.resnet18(jax.random.key(0), input_shape=(8, 8, 3), num_classes=10)
    n = sum(p.size for p in jax.tree.leaves(r18.params))
    assert n == 11_173_962  # the CIFAR ResNet-18 parameter count
    assert "resnet18" in models.MODELS and "convnet" in models.MODELS
