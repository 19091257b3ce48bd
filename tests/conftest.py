"""Test configuration: make ``tests/contracts.py`` importable and provide tiny shared fixtures."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
# Tests run tiny programs whose cost is dominated by XLA's LLVM compilation; the lowest backend
# optimization level compiles ~2.5x faster on CPU. Benchmarks never set this.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

from leakjax import fl, models  # noqa: E402
from leakjax.types import DataSpec  # noqa: E402


@pytest.fixture(scope="session")
def tiny_lenet():
    """DLG's sigmoid LeNet on 8x8x1 inputs with 4 classes (D = 48): seconds per attack."""
    return models.lenet(jax.random.key(1), input_shape=(8, 8, 1), num_classes=4)


@pytest.fixture(scope="session")
def tiny_spec():
    return DataSpec("tiny", (8, 8, 1), 4)


@pytest.fixture(scope="session")
def tiny_images():
    return jax.random.uniform(jax.random.key(2), (3, 8, 8, 1))


@pytest.fixture(scope="session")
def tiny_obs(tiny_lenet, tiny_spec, tiny_images):
    return fl.observe(
        jax.random.key(0), tiny_lenet, tiny_images[:1], jnp.array([2]), spec=tiny_spec
    )
