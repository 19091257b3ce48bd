"""PyTorch-style initialization of the zoo (leakjax.models.init)."""

import math

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from leakjax import models
from leakjax.models.init import torch_init


def _flat(m):
    return {"/".join(k): np.asarray(v) for k, v in flatten_dict(m.params).items()}


def test_convnet_torch_init_follows_pytorch_defaults():
    p = _flat(models.convnet(jax.random.key(0), width=4, num_classes=5))
    k = p["conv1/kernel"]  # (3, 3, 4, 8): fan_in 36
    bound = 1 / math.sqrt(3 * 3 * 4)
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.9 * bound
    assert k.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)  # U(-b, b) has std b / sqrt 3
    b = p["conv1/bias"]
    assert np.abs(b).max() <= bound and np.any(b != 0)  # PyTorch's conv bias is not zero
    c = p["classifier/kernel"]  # Linear(36 * 4 -> 5)
    assert np.abs(c).max() <= 1 / math.sqrt(36 * 4)
    np.testing.assert_array_equal(p["bn1/scale"], 1.0)  # BatchNorm untouched
    np.testing.assert_array_equal(p["bn1/bias"], 0.0)


def test_flax_init_keeps_flax_defaults_and_differs():
    f = _flat(models.convnet(jax.random.key(0), width=4, num_classes=5, init="flax"))
    t = _flat(models.convnet(jax.random.key(0), width=4, num_classes=5))
    np.testing.assert_array_equal(f["conv1/bias"], 0.0)
    assert set(f) == set(t)
    assert all(f[n].shape == t[n].shape and f[n].dtype == t[n].dtype for n in f)


def test_resnet_convs_use_kaiming_fan_out():
    p = _flat(models.resnet20(jax.random.key(0), input_shape=(8, 8, 3), num_classes=4, width=2))
    name = next(n for n in p if n.endswith("conv2/kernel"))
    k = p[name]
    assert k.std() == pytest.approx(math.sqrt(2 / (3 * 3 * k.shape[-1])), rel=0.1)
    assert np.abs(p["classifier/kernel"]).max() <= 1 / math.sqrt(p["classifier/kernel"].shape[0])


def test_torch_init_is_deterministic_and_checks_arguments():
    m = models.convnet(jax.random.key(0), width=2, num_classes=3, init="flax")
    a = torch_init(m.params, jax.random.key(5))
    b = torch_init(m.params, jax.random.key(5))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    with pytest.raises(ValueError, match="conv_rule='he'"):
        torch_init(m.params, jax.random.key(5), conv_rule="he")
    with pytest.raises(ValueError, match="init='pytorch'"):
        models.convnet(jax.random.key(0), width=2, init="pytorch")
