"""Issue 14.7: metrics refuse inputs that would give silently wrong numbers."""

import jax
import jax.numpy as jnp
import pytest

from leakjax import metrics


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.mse, metrics.ssim])
def test_a_missing_batch_axis_is_named(fn):
    x = jnp.full((16, 16, 1), 0.5)
    with pytest.raises(ValueError, match=r"add the batch axis"):
        fn(x, x)


def test_8bit_targets_are_refused_instead_of_0_db():
    x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"span \[.*\].*in \[0, 1\].*divide by 255"):
        metrics.psnr(x * 255, x * 255 + 1)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        metrics.mse(x, x * 2.0 + 0.5, space="normalized", mean=(0.5,) * 3, std=(0.25,) * 3)
    # [0, 1] targets pass, in every space
    assert float(metrics.psnr(x, x)[0]) == float("inf")
    assert jnp.all(jnp.isfinite(metrics.psnr(x, jnp.clip(x + 0.01, 0, 1), space="pm1")))
