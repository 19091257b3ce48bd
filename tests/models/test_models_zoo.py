"""The zoo (sigmoid LeNet, MLP) and the Linen / NNX / function adapters."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from leakjax import fl, models


@pytest.mark.parametrize(("shape", "hidden"), [((32, 32, 3), 768), ((28, 28, 1), 588)])
def test_lenet_shapes_and_uniform_init(shape, hidden):
    m = models.lenet(jax.random.key(0), input_shape=shape, num_classes=100)
    assert m.classifier_kernel(m.params).shape == (hidden, 100)
    assert m.classifier_bias(m.params).shape == (100,)
    leaves = jax.tree.leaves(m.params)
    assert all(float(jnp.min(x)) >= -0.5 and float(jnp.max(x)) <= 0.5 for x in leaves)
    # weights and biases span most of the interval (U(-0.5, 0.5), not a default init)
    assert float(jnp.max(m.params["conv0"]["bias"])) > 0.2
    logits = m.apply_fn(m.params, jnp.zeros((2, *shape)))
    assert logits.shape == (2, 100)
    assert m.features_fn(m.params, jnp.zeros((2, *shape))).shape == (2, hidden)


def test_lenet_rejects_bad_shape():
    with pytest.raises(ValueError, match="input_shape="):
        models.lenet(jax.random.key(0), input_shape=(32, 32))


def test_mlp_and_features():
    m = models.mlp(jax.random.key(0), input_shape=(4, 4, 1), num_classes=3, hidden=(5,))
    x = jax.random.normal(jax.random.key(1), (2, 4, 4, 1))
    h = m.features_fn(m.params, x)
    assert h.shape == (2, 5)
    k, b = m.classifier_kernel(m.params), m.classifier_bias(m.params)
    np.testing.assert_allclose(m.apply_fn(m.params, x), h @ k + b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="activation='swish'"):
        models.mlp(jax.random.key(0), activation="swish")


class _LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        x = nn.Dense(6, name="body")(x)
        x = nn.BatchNorm(use_running_average=not train, name="bn")(x)
        return nn.Dense(3, name="head")(nn.relu(x))


def test_from_linen_with_batchnorm_modes():
    module = _LinenNet()
    x = jax.random.normal(jax.random.key(0), (4, 2, 2, 1))
    variables = module.init(jax.random.key(1), x)
    m_eval = models.from_linen(
        module, variables, input_shape=(2, 2, 1), num_classes=3, train_kwarg="train"
    )
    m_train = models.from_linen(
        module,
        variables,
        input_shape=(2, 2, 1),
        num_classes=3,
        train_kwarg="train",
        bn_mode="train",
    )
    assert m_eval.bn_mode == "eval" and m_train.bn_mode == "train"
    assert m_eval.classifier_kernel_path == ("head", "kernel")
    ref_eval = module.apply(variables, x, train=False)
    np.testing.assert_allclose(m_eval.apply_fn(m_eval.params, x), ref_eval, rtol=1e-5)
    ref_train, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(m_train.apply_fn(m_train.params, x), ref_train, rtol=1e-5)
    g = fl.client_gradient(m_train)(m_train.params, x, jnp.array([0, 1, 2, 0]))
    assert jax.tree.structure(g) == jax.tree.structure(m_train.params)


class _NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.body = nnx.Linear(4, 5, rngs=rngs)
        self.classifier = nnx.Linear(5, 3, rngs=rngs)

    def __call__(self, x):
        return self.classifier(nnx.sigmoid(self.body(x.reshape(x.shape[0], -1))))


def test_from_nnx_is_pure_and_differentiable():
    net = _NNXNet(nnx.Rngs(0))
    m = models.from_nnx(net, input_shape=(2, 2, 1), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (2, 2, 2, 1))
    np.testing.assert_allclose(m.apply_fn(m.params, x), net(x), rtol=1e-6)
    assert m.classifier_kernel(m.params).shape == (5, 3)
    # params are a plain dict: shifting them changes the output, without touching the module
    p2 = jax.tree.map(lambda a: a + 1.0, m.params)
    assert not np.allclose(jax.jit(m.apply_fn)(p2, x), net(x))
    g = jax.jit(fl.client_gradient(m))(m.params, x, jnp.array([0, 2]))
    assert jax.tree.structure(g) == jax.tree.structure(m.params)


def test_from_fn_and_missing_classifier():
    params = {"w": {"kernel": jnp.ones((4, 2))}}
    m = models.from_fn(
        lambda p, x: x.reshape(x.shape[0], -1) @ p["w"]["kernel"],
        params,
        input_shape=(2, 2, 1),
        num_classes=2,
    )
    assert m.classifier_kernel_path == ("w", "kernel") and m.classifier_bias_path is None
    with pytest.raises(ValueError, match="classifier"):
        models.from_fn(
            lambda p, x: x,
            {"w": {"kernel": jnp.ones((4, 5))}},
            input_shape=(2, 2, 1),
            num_classes=2,
        )
