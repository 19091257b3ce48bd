"""Semantic metric: does a reconstruction show the victim's class?

Pixel metrics (MSE/PSNR/SSIM) punish a reconstruction that shows the right digit in another
handwriting as much as noise; GGL's claim is precisely that its reconstructions keep the
*semantics* of the victim under defenses. This module trains a small, independent classifier
on the **public** split (never on the victims' private split) and reports, per reconstruction,
whether the classifier assigns it the victim's true class.

The classifier is a small ReLU CNN (conv 3x3/2 -> conv 3x3/2 -> dense -> dense), trained with
Adam on batch-mean cross-entropy with small random shifts as augmentation. Its accuracy on held
out real images (e.g. the private split) should be reported next to the class-match rate: the
match rate of perfect reconstructions is bounded by it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


class _SmallCNN(nn.Module):
    num_classes: int
    width: int = 16

    @nn.compact
    def __call__(self, x):
        x = (x - 0.5) / 0.5
        x = nn.relu(nn.Conv(self.width, (3, 3), strides=(2, 2), padding="SAME")(x))
        x = nn.relu(nn.Conv(2 * self.width, (3, 3), strides=(2, 2), padding="SAME")(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(64)(x))
        return nn.Dense(self.num_classes)(x)


@dataclasses.dataclass(frozen=True, eq=False)
class SemanticClassifier:
    """A classifier of [0, 1] images used as a semantic metric.

    Attributes:
      apply_fn: pure ``apply_fn(params, images01) -> logits``.
      params: its parameters.
      image_shape: ``(H, W, C)``.
      num_classes: number of classes.
      trained_on: provenance (dataset, split, number of images, steps).
    """

    apply_fn: Callable[[Any, jax.Array], jax.Array]
    params: Any
    image_shape: tuple[int, int, int]
    num_classes: int
    trained_on: dict = dataclasses.field(default_factory=dict)

    def predict(self, images01) -> jax.Array:
        """Predicted class per image ``(B,)``."""
        x = jnp.asarray(images01, jnp.float32)
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(
                f"SemanticClassifier.predict: images of shape {tuple(x.shape)}, expected "
                f"(B, {', '.join(map(str, self.image_shape))}) in [0, 1]"
            )
        return jnp.argmax(self.apply_fn(self.params, jnp.clip(x, 0.0, 1.0)), axis=-1)

    def accuracy(self, images01, labels) -> float:
        """Top-1 accuracy on real images (report it next to the class-match rate)."""
        return float(jnp.mean(self.predict(images01) == jnp.asarray(labels)))


def train_semantic_classifier(
    key: jax.Array,
    images01,
    labels,
    *,
    num_classes: int | None = None,
    steps: int = 800,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    width: int = 16,
    max_shift: int = 2,
    trained_on: dict | None = None,
) -> SemanticClassifier:
    """Train the semantic classifier on public images (float32 NHWC in [0, 1]).

    Args:
      key: PRNG key (init, batches, augmentation).
      images01: ``(N, H, W, C)`` public images in [0, 1].
      labels: ``(N,)`` int class ids.
      num_classes: default ``max(labels) + 1``.
      steps: Adam steps.
      batch_size: images per step (sampled with replacement).
      learning_rate: Adam step size.
      width: channels of the first conv.
      max_shift: random translation of up to this many pixels (augmentation; 0 = none).
      trained_on: provenance dict (dataset, split).
    """
    images = np.asarray(images01, np.float32)
    lab = np.asarray(labels, np.int32)
    if images.ndim != 4 or lab.shape != (images.shape[0],):
        raise ValueError(
            f"train_semantic_classifier: images {images.shape} / labels {lab.shape}, expected "
            "(N, H, W, C) and (N,)"
        )
    for name, v in dict(steps=steps, batch_size=batch_size, width=width).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"train_semantic_classifier: {name}={v!r}, expected an integer >= 1")
    num_classes = int(lab.max()) + 1 if num_classes is None else int(num_classes)
    module = _SmallCNN(num_classes=num_classes, width=width)
    k_init, k_train = jax.random.split(key)
    params = module.init(k_init, jnp.zeros((1, *images.shape[1:]), jnp.float32))["params"]
    apply_fn = lambda p, x: module.apply({"params": p}, x)
    tx = optax.adam(learning_rate)
    data, data_lab = jnp.asarray(images), jnp.asarray(lab)
    n = images.shape[0]

    def loss_fn(p, x, y):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(apply_fn(p, x), y))

    def shift(k, x):
        if max_shift == 0:
            return x
        pad = max_shift
        xp = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)))
        dy, dx = jax.random.randint(k, (2,), 0, 2 * pad + 1)
        return jax.lax.dynamic_slice(xp, (dy, dx, 0), x.shape)

    @jax.jit
    def train(params, key):
        def body(carry, k):
            p, o = carry
            kb, ks = jax.random.split(k)
            idx = jax.random.randint(kb, (batch_size,), 0, n)
            x = jax.vmap(shift)(jax.random.split(ks, batch_size), data[idx])
            g = jax.grad(loss_fn)(p, x, data_lab[idx])
            upd, o = tx.update(g, o, p)
            return (optax.apply_updates(p, upd), o), None

        (params, _), _ = jax.lax.scan(body, (params, tx.init(params)), jax.random.split(key, steps))
        return params

    params = train(params, k_train)
    provenance = dict(trained_on or {})
    provenance.update(num_images=int(n), steps=int(steps))
    return SemanticClassifier(
        apply_fn=apply_fn,
        params=params,
        image_shape=tuple(images.shape[1:]),
        num_classes=num_classes,
        trained_on=provenance,
    )


def class_match(classifier: SemanticClassifier, reconstructions01, labels) -> jax.Array:
    """Per image ``(B,)``: 1.0 when the classifier assigns the reconstruction the victim's
    class ``labels``, else 0.0 (reconstructions in [0, 1]; not reduced over the batch)."""
    pred = classifier.predict(reconstructions01)
    return (pred == jnp.asarray(labels)).astype(jnp.float32)
