"""Generative image priors: generator/critic models, their training on public data, checkpoints.

* :func:`dcgan_generator`, :func:`dcgan_critic` -- DCGAN / WGAN-GP style Flax models for
  28x28x1 and 32x32x3 (any ``H, W >= 4``), optionally class-conditional.
* :class:`Generator` -- the pure ``apply_fn(params, z, labels)`` plus its metadata; attacks
  (:func:`leakjax.attacks.ggl`, :func:`leakjax.attacks.gias`) take one.
* :func:`train_generator` -- WGAN-GP or DCGAN training on a *public* split, with a callback for
  progress bars.
* :func:`save_generator` / :func:`load_generator` -- flax msgpack checkpoints with metadata and
  shape/range validation; :func:`generator_from_fn` wraps a generator trained elsewhere.
"""

from leakjax.generative.checkpoint import load_generator, read_metadata, save_generator
from leakjax.generative.models import (
    ARCHITECTURES,
    OUTPUT_RANGES,
    DCGANCritic,
    DCGANGenerator,
    Generator,
    check_generator,
    check_generator_fits,
    dcgan_critic,
    dcgan_generator,
    generator_from_fn,
)
from leakjax.generative.train import LOSSES, GANState, train_generator

__all__ = [
    "ARCHITECTURES",
    "LOSSES",
    "OUTPUT_RANGES",
    "DCGANCritic",
    "DCGANGenerator",
    "GANState",
    "Generator",
    "check_generator",
    "check_generator_fits",
    "dcgan_critic",
    "dcgan_generator",
    "generator_from_fn",
    "load_generator",
    "read_metadata",
    "save_generator",
    "train_generator",
]
