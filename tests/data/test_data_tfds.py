"""Tests for leakjax.data.load_tfds with tfds.testing.mock_data (no download, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from leakjax.data import NORMALIZATION, TFDS_DATASETS, load, load_tfds  # noqa: E402

EXPECTED = {
    # name: (tfds name, image_shape, num_classes, normalization key)
    "mnist": ("mnist", (28, 28, 1), 10, "mnist"),
    "emnist": ("emnist/balanced", (28, 28, 1), 47, "emnist"),
    "emnist/letters": ("emnist/letters", (28, 28, 1), 37, "emnist"),
    "cifar10": ("cifar10", (32, 32, 3), 10, "cifar10"),
    "cifar100": ("cifar100", (32, 32, 3), 100, "cifar100"),
    "svhn_cropped": ("svhn_cropped", (32, 32, 3), 10, "svhn_cropped"),
}


def test_every_supported_name_is_covered():
    assert set(TFDS_DATASETS) <= set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_mock_data_shapes_and_spec(name, tmp_path):
    tfds_name, shape, num_classes, norm = EXPECTED[name]
    with tfds.testing.mock_data(num_examples=6):
        ds = load_tfds(name, split="train", num_examples=4, data_dir=str(tmp_path))
    assert ds.images.shape == (4,) + shape and ds.images.dtype == np.float32
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0 and ds.images.max() > 0.5
    assert ds.labels.shape == (4,) and ds.labels.dtype == np.int32
    assert ds.labels.min() >= 0 and ds.labels.max() < num_classes
    np.testing.assert_array_equal(ds.indices, np.arange(4))
    assert ds.split == "train"
    assert ds.spec.name == tfds_name
    assert ds.spec.image_shape == shape and ds.spec.num_classes == num_classes
    assert ds.spec.mean == NORMALIZATION[norm][0] and ds.spec.std == NORMALIZATION[norm][1]
    assert len(ds.class_names) == num_classes
    assert ds.raw_spec().mean == (0.0,) * shape[-1]


def test_whole_split_and_dispatcher():
    with tfds.testing.mock_data(num_examples=3):
        ds = load_tfds("cifar10", split="test")
        via_load = load("cifar10", split="test", num_images=2)
    assert len(ds) == 3 and ds.split == "test"
    np.testing.assert_array_equal(via_load.images, ds.images[:2])


def test_emnist_is_transposed_upright():
    with tfds.testing.mock_data(num_examples=3):
        raw = np.asarray(tfds.data_source("emnist/balanced", split="train")[1]["image"])
        ds = load_tfds("emnist", num_examples=2)
    np.testing.assert_allclose(ds.images[1], raw.transpose(1, 0, 2) / 255.0)
    assert ds.class_names[10] == "A" and ds.class_names[36] == "a"


def test_normalization_table():
    assert NORMALIZATION["cifar10"] == ((0.4915, 0.4823, 0.4468), (0.2470, 0.2435, 0.2616))
    assert NORMALIZATION["cifar100"] == ((0.5072, 0.4867, 0.4412), (0.2673, 0.2564, 0.2762))
    assert NORMALIZATION["mnist"] == ((0.1307,), (0.3081,))
    assert "imagenet" in NORMALIZATION
    for mean, std in NORMALIZATION.values():
        assert len(mean) == len(std) and all(0 < s < 0.5 for s in std)


def test_missing_dataset_error_shows_how_to_prepare(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_tfds("mnist", data_dir=str(tmp_path))
    msg = str(err.value)
    assert "name='mnist'" in msg and "download_and_prepare" in msg
    assert "file_format='array_record'" in msg and str(tmp_path) in msg


@pytest.mark.parametrize(
    "name, kwargs, exc, fragment",
    [
        ("imagenet2012", {}, ValueError, "name='imagenet2012'"),
        ("emnist/nope", {}, ValueError, "name='emnist/nope'"),
        ("mnist", {"num_examples": 0}, ValueError, "num_examples=0"),
        ("mnist", {"num_examples": 1.5}, TypeError, "num_examples=1.5"),
    ],
)
def test_bad_inputs(name, kwargs, exc, fragment):
    with pytest.raises(exc) as err:
        load_tfds(name, **kwargs)
    assert fragment in str(err.value)


def test_num_examples_larger_than_split(tmp_path):
    with tfds.testing.mock_data(num_examples=3), pytest.raises(ValueError) as err:
        load_tfds("mnist", num_examples=10, data_dir=str(tmp_path))
    assert "num_examples=10" in str(err.value) and "only 3" in str(err.value)
