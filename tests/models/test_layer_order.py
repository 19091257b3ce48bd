"""Layer order is module order, recorded in Model, never read from (sorted) dict keys."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from leakjax import attacks, fl, models
from leakjax import defenses as D
from leakjax.attacks.analytic import find_first_dense
from leakjax.types import leaf_paths


def test_convnet_torch_init_layer_order_is_module_order():
    m = models.convnet(jax.random.key(0), width=2, init="torch")
    expected = []
    for i in range(8):
        expected += [
            (f"conv{i}", "kernel"),
            (f"conv{i}", "bias"),
            (f"bn{i}", "scale"),
            (f"bn{i}", "bias"),
        ]
    expected += [("classifier", "kernel"), ("classifier", "bias")]
    assert list(m.layer_order) == expected
    # the params dict itself is sorted (bn0 ... classifier ... conv0): reading order from it
    # would be wrong, which is what this guards against
    assert leaf_paths(m.params)[0] == ("bn0", "bias")
    assert leaf_paths(m.params) != expected


def test_resnet_torch_init_layer_order():
    m = models.resnet20(jax.random.key(0), init="torch")
    order = list(m.layer_order)
    assert order[0] == ("stem_conv", "kernel")
    assert order[-2:] == [("classifier", "kernel"), ("classifier", "bias")]
    blocks = [p[0] for p in order if p[0].startswith("stage")]
    # stages and blocks in execution order (stage0_block0, ..., stage2_block2)
    firsts = list(dict.fromkeys(blocks))
    assert firsts == sorted(firsts, key=lambda s: (int(s[5]), int(s.split("block")[1])))
    assert sorted(order) == sorted(leaf_paths(m.params))


def test_ig_layer_weights_follow_module_order():
    m = models.convnet(jax.random.key(0), width=2, init="torch")
    w = attacks.layer_weights(m, "linear")
    n = len(m.layer_order)
    assert w["conv0"]["kernel"] == pytest.approx(1.0)
    assert w["classifier"]["bias"] == pytest.approx(1.0 / n)
    assert w["bn0"]["scale"] == pytest.approx((n - 2) / n)
    with pytest.raises(TypeError, match="expected a leakjax Model"):
        attacks.layer_weights(m.params, "linear")


class _TwoDense(nn.Module):
    """Input layer named 'zz_in' (sorts last), a same-sized second layer named 'aa_mid'."""

    @nn.compact
    def __call__(self, x):
        h = nn.sigmoid(nn.Dense(16, name="zz_in")(x.reshape(x.shape[0], -1)))
        h = nn.sigmoid(nn.Dense(16, name="aa_mid")(h))
        return nn.Dense(3, name="head_out")(h)


def test_first_dense_and_classifier_fallback_use_module_order():
    mod = _TwoDense()
    v = mod.init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))
    m = models.from_linen(mod, v, input_shape=(4, 4, 1), num_classes=3)
    assert find_first_dense(m) == ("zz_in", "kernel")  # not 'aa_mid', first alphabetically
    assert m.classifier_kernel_path == ("head_out", "kernel")


class _NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.zbody = nnx.Linear(4, 6, rngs=rngs)
        self.classifier = nnx.Linear(6, 3, rngs=rngs)

    def __call__(self, x):
        return self.classifier(nnx.sigmoid(self.zbody(x.reshape(x.shape[0], -1))))


def test_nnx_layer_order_features_and_soteria():
    m = models.from_nnx(_NNXNet(nnx.Rngs(0)), input_shape=(2, 2, 1), num_classes=3)
    assert m.layer_order == (
        ("zbody", "kernel"),
        ("zbody", "bias"),
        ("classifier", "kernel"),
        ("classifier", "bias"),
    )
    x = jax.random.uniform(jax.random.key(1), (2, 2, 2, 1))
    feats = m.features_fn(m.params, x)
    ref = nnx.sigmoid(x.reshape(2, -1) @ m.params["zbody"]["kernel"] + m.params["zbody"]["bias"])
    np.testing.assert_allclose(feats, ref, rtol=1e-6)
    y = jnp.array([0, 2])
    g = fl.apply_defense(jax.random.key(0), D.soteria(50.0), m, m.params, x, y)
    rows = np.asarray(jnp.all(g["classifier"]["kernel"] == 0, axis=1))
    assert rows.sum() == 3  # half of the 6 representation features pruned


def test_graddefense_slices_concatenate_in_module_order():
    m = models.convnet(jax.random.key(0), width=1, init="torch")
    x = jax.random.uniform(jax.random.key(1), (4, 32, 32, 3))
    y = jnp.arange(4) % 10
    bounds = D.graddefense_slices(m, x, y, slices_num=4)
    sizes = [int(np.prod(t.shape)) for t in m.ordered_leaves(m.params)]
    assert bounds[-1] == sum(sizes)
    # the noise of the tier-1 transform lands where the slices say, in module order
    tx = D.grad_defense(bounds, 0, perturb_slices_num=1, noise_std=1.0, model=m)
    zeros = jax.tree.map(jnp.zeros_like, m.params)
    out = tx.update(zeros, tx.init(m.params), m.params)[0]
    flat = np.concatenate([np.ravel(t) for t in m.ordered_leaves(out)])
    nz = np.flatnonzero(flat)
    assert any(lo <= nz.min() and nz.max() < hi for lo, hi in zip(bounds[:-1], bounds[1:]))


def test_layer_order_validation():
    m = models.mlp(jax.random.key(0), input_shape=(2, 2, 1), num_classes=3, hidden=(4,))
    with pytest.raises(ValueError, match="layer_order must list every parameter path"):
        m.replace(layer_order=m.layer_order[:-1])
