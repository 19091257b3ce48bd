"""benchmarks/torch_reference.py (needs torch: skipped without it): the Flax <-> torch conversions
used by the speed benchmark and by the golden-value writer give the same logits and gradients.
The golden values themselves are checked on every run in tests/attacks/test_attack_golden_torch.py."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny ops; more threads only add contention on a shared CPU

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import torch_reference as tref  # noqa: E402

from leakjax.fl import client_gradient  # noqa: E402
from leakjax.models import lenet  # noqa: E402

_MODELS = {}


def _lenet(input_shape):
    if input_shape not in _MODELS:
        _MODELS[input_shape] = lenet(jax.random.key(3), input_shape=input_shape, num_classes=10)
    return _MODELS[input_shape]


@pytest.mark.parametrize("input_shape, feature_hw", [((12, 8, 1), (3, 2)), ((32, 32, 3), None)])
def test_conversion_matches_logits_and_gradients(input_shape, feature_hw):
    model = _lenet(input_shape)
    x = jax.random.uniform(jax.random.key(4), (2, *input_shape))
    y = jnp.array([1, 7])
    tmodel = tref.model_from_flax(model.params, feature_hw=feature_hw)
    x_t = tref.nhwc_to_nchw(x)
    np.testing.assert_allclose(
        tmodel(x_t).detach().numpy(), np.asarray(model.apply_fn(model.params, x)), atol=2e-5
    )
    g_t = tref.client_gradient(tmodel, x_t, torch.tensor([1, 7]))
    g_j = tref.grads_from_flax(client_gradient(model)(model.params, x, y), feature_hw=feature_hw)
    assert len(g_t) == len(g_j) == 8
    for a, b in zip(g_t, g_j):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5, rtol=1e-4)
    # the image layout round-trips
    np.testing.assert_array_equal(tref.nchw_to_nhwc(x_t), np.asarray(x))


def test_wrong_feature_hw_is_rejected():
    model = _lenet((12, 8, 1))
    with pytest.raises(ValueError, match="feature_hw"):
        tref.state_dict_from_flax(model.params, feature_hw=(2, 2))


def test_torch_dlg_closure_runs_and_counts_evaluations():
    tmodel = tref.model_from_flax(_lenet((12, 8, 1)).params, feature_hw=(3, 2))
    torch.manual_seed(0)
    x = torch.rand(1, 1, 12, 8)
    g = tref.client_gradient(tmodel, x, torch.tensor([2]))
    out = tref.dlg_attack(tmodel, g, torch.randn(1, 1, 12, 8), torch.randn(1, 10), steps=2)
    assert len(out["losses"]) == 2 and out["losses"][1] < out["losses"][0]
    assert 2 <= out["func_evals"] <= 40
    out = tref.idlg_attack(tmodel, g, torch.randn(1, 1, 12, 8), tref.idlg_label(g), steps=2)
    assert int(out["label"][0]) == 2


@pytest.mark.parametrize("input_shape, feature_hw", [((12, 8, 1), (3, 2)), ((8, 8, 1), (2, 2))])
def test_flax_grads_from_torch_inverts_grads_from_flax(input_shape, feature_hw):
    """The golden-value writer (torch_reference.golden) stores torch gradients in leakjax
    layout with this inverse; a wrong permutation would corrupt every golden gradient."""
    model = _lenet(input_shape)
    x = jax.random.uniform(jax.random.key(5), (2, *input_shape))
    g = client_gradient(model)(model.params, x, jnp.array([0, 3]))
    back = tref.flax_grads_from_torch(
        tref.grads_from_flax(g, feature_hw=feature_hw), model.params, feature_hw=feature_hw
    )
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
