"""Test configuration: make ``tests/contracts.py`` importable and provide tiny shared fixtures."""

import gc
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


def _memory_map_count() -> int:
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux: no per-process mapping limit to stay under
        return 0


def _max_map_count() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


# clear once a worker holds this share of the limit; one test module adds at most ~21,000
# mappings (tests/attacks/test_attack_dlg_idlg.py), so the count stays below ~0.65 of 65,530
_CLEAR_AT_SHARE = 0.3


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled XLA program after a module once the process holds too many mappings.

    Each XLA:CPU executable keeps its machine code in a few private memory mappings until it is
    freed, and jit caches keep executables alive for the life of the process. One xdist worker
    running the whole suite compiles tens of thousands of programs and went past 49,000 mappings
    at 61% of the suite, on its way to Linux's default ``vm.max_map_count`` of 65,530, where the
    next compile dies natively (``Fatal Python error: Aborted`` or ``Segmentation fault`` inside
    ``backend_compile_and_load``; CI did, twice). ``jax.clear_caches()`` returns the mappings
    (18,134 -> 806 after tests/attacks/test_attack_dlg_idlg.py). Clearing only past a threshold
    keeps the compiled programs that later modules reuse in most modules.
    """
    yield
    limit = _max_map_count()
    if limit and _memory_map_count() > _CLEAR_AT_SHARE * limit:
        jax.clear_caches()
        gc.collect()
