"""Image metrics: golden values against scikit-image and closed forms; explicit spaces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from leakjax import metrics


@pytest.fixture
def pair():
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    noise = 0.05 * jax.random.normal(jax.random.key(1), x.shape)
    return jnp.clip(x + noise, 0, 1), x


def test_mse_psnr_closed_form(pair):
    a, b = pair
    mse = metrics.mse(a, b)
    np.testing.assert_allclose(
        mse, np.mean((np.asarray(a) - np.asarray(b)) ** 2, (1, 2, 3)), rtol=1e-6
    )
    np.testing.assert_allclose(metrics.psnr(a, b), 10 * np.log10(1 / np.asarray(mse)), rtol=1e-5)
    # GGL's [-1, 1] convention: MSE x4, PSNR 6.02 dB lower
    np.testing.assert_allclose(metrics.mse(a, b, space="pm1"), 4 * mse, rtol=1e-5)
    np.testing.assert_allclose(
        metrics.psnr(a, b) - metrics.psnr(a, b, space="pm1"), 6.0206, atol=1e-3
    )


def test_normalized_space_mse_and_psnr(pair):
    a, b = pair
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    per_c = np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=(1, 2))
    expect = np.mean(per_c / np.asarray(std) ** 2, axis=-1)
    np.testing.assert_allclose(
        metrics.mse(a, b, space="normalized", mean=mean, std=std), expect, rtol=1e-5
    )
    # with one std for all channels the normalized PSNR equals the [0, 1] PSNR
    np.testing.assert_allclose(
        metrics.psnr(a, b, space="normalized", mean=0.5, std=(0.2, 0.2, 0.2)),
        metrics.psnr(a, b),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="mean= and std="):
        metrics.mse(a, b, space="normalized")
    with pytest.raises(ValueError, match="space='lab'"):
        metrics.mse(a, b, space="lab")


def test_ssim_matches_skimage(pair):
    a, b = pair
    ours = np.asarray(metrics.ssim(a, b))
    ref = [
        structural_similarity(
            np.asarray(b[i]),
            np.asarray(a[i]),
            channel_axis=-1,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(2)
    ]
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    np.testing.assert_allclose(metrics.ssim(b, b), [1.0, 1.0], atol=1e-5)


def test_label_accuracy_multiset():
    assert float(metrics.label_accuracy(jnp.array([3]), jnp.array([3]))) == 1.0
    np.testing.assert_allclose(
        metrics.label_accuracy(
            jnp.array([[1, 1, 2], [0, 0, 0]]), jnp.array([[2, 1, 1], [0, 1, 2]])
        ),
        [1.0, 1 / 3],
    )


def test_shape_mismatch_is_reported(pair):
    a, b = pair
    with pytest.raises(ValueError, match="must be equal"):
        metrics.mse(a[:1], b)
