"""Semantic class-match metric: a small classifier trained on public images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax.metrics import class_match, train_semantic_classifier


def _toy(n, key):
    """Class 0: bright top half; class 1: bright bottom half (8x8x1, noisy)."""
    y = jnp.arange(n) % 2
    rows = jnp.arange(8)[None, :, None, None]
    top = (rows < 4).astype(jnp.float32)
    base = jnp.where(y[:, None, None, None] == 0, top, 1.0 - top)
    noise = 0.1 * jax.random.uniform(key, (n, 8, 8, 1))
    return jnp.clip(base * 0.9 + noise, 0, 1), y


def test_classifier_learns_and_class_match():
    x, y = _toy(64, jax.random.key(0))
    clf = train_semantic_classifier(
        jax.random.key(1),
        x,
        y,
        steps=60,
        batch_size=16,
        width=4,
        max_shift=1,
        trained_on=dict(dataset="toy", split="public"),
    )
    xt, yt = _toy(16, jax.random.key(2))
    assert clf.accuracy(xt, yt) == 1.0
    m = class_match(clf, xt, yt)
    assert m.shape == (16,) and float(m.mean()) == 1.0
    assert float(class_match(clf, xt, 1 - yt).mean()) == 0.0
    assert clf.trained_on["split"] == "public"
    with pytest.raises(ValueError, match="expected"):
        clf.predict(np.zeros((2, 4, 4, 1)))
