"""Tests for the embedded offline datasets (leakjax.data.embedded) and the Dataset container."""

from __future__ import annotations

import numpy as np
import pytest

from leakjax.data import EMBEDDED, Dataset, load, load_embedded
from leakjax.data.embedded import PHOTO_CROPS, PHOTO_SOURCES, split_indices
from leakjax.types import DataSpec

EXPECTED = {
    # name: (N, image_shape, num_classes)
    "digits": (1797, (28, 28, 1), 10),
    "photos": (len(PHOTO_SOURCES) * sum(g * g for _, g in PHOTO_CROPS), (32, 32, 3), 11),
    "faces": (100, (32, 32, 3), 100),
}


@pytest.mark.parametrize("name", EMBEDDED)
def test_full_dataset_shapes_ranges_and_spec(name):
    n, shape, num_classes = EXPECTED[name]
    ds = load_embedded(name)
    assert isinstance(ds, Dataset)
    assert len(ds) == n
    assert ds.images.shape == (n,) + shape
    assert ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int32 and ds.indices.dtype == np.int64
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    assert ds.images.max() > 0.9 and ds.images.min() < 0.1  # real contrast, not a constant
    assert ds.spec.name == name and ds.spec.image_shape == shape
    assert ds.spec.num_classes == num_classes == len(ds.class_names)
    np.testing.assert_array_equal(np.unique(ds.labels), np.arange(num_classes))
    np.testing.assert_array_equal(np.sort(ds.indices), np.arange(n))
    np.testing.assert_array_equal(load_embedded(name, order="natural").indices, np.arange(n))
    assert ds.split == "all"
    # the spec carries the per-channel mean and *standard deviation* of the [0, 1] pixels
    pix = ds.images.reshape(-1, shape[-1]).astype(np.float64)
    np.testing.assert_allclose(ds.spec.mean, pix.mean(0), rtol=1e-6)
    np.testing.assert_allclose(ds.spec.std, pix.std(0), rtol=1e-6)
    raw = ds.raw_spec()
    assert raw.mean == (0.0,) * shape[-1] and raw.std == (1.0,) * shape[-1]
    assert raw.image_shape == shape and raw.num_classes == num_classes
    # distinct images (no accidental duplicates from the resizing / cropping)
    flat = ds.images.reshape(n, -1)
    assert len(np.unique(flat.round(4), axis=0)) == n


@pytest.mark.parametrize("name", EMBEDDED)
def test_public_private_disjoint_covering_stratified(name):
    full = load_embedded(name, order="natural")
    pub = load_embedded(name, split="public")
    priv = load_embedded(name, split="private")
    n = len(full)
    assert len(pub) == (n + 1) // 2 and len(priv) == n // 2
    assert not set(pub.indices.tolist()) & set(priv.indices.tolist())
    np.testing.assert_array_equal(
        np.sort(np.concatenate([pub.indices, priv.indices])), np.arange(n)
    )
    for part in (pub, priv):
        np.testing.assert_array_equal(part.images, full.images[part.indices])
        np.testing.assert_array_equal(part.labels, full.labels[part.indices])
        assert part.spec == full.spec
    # each class is split half/half, within one image
    c = full.spec.num_classes
    diff = np.bincount(pub.labels, minlength=c) - np.bincount(priv.labels, minlength=c)
    assert np.abs(diff).max() <= 1
    # splits are shuffled, so a short prefix mixes classes
    if c <= 20:
        assert len(np.unique(pub.labels[:20])) >= min(c, 5)


def test_split_rule_is_deterministic_and_documented():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    a = split_indices("x", labels)
    b = split_indices("x", labels)
    for k in ("all", "public", "private"):
        np.testing.assert_array_equal(a[k], b[k])
    assert len(a["public"]) == 5 and len(a["private"]) == 4
    other = split_indices("y", labels)  # the name seeds the hash
    assert not all(np.array_equal(a[k], other[k]) for k in ("public", "private"))


@pytest.mark.parametrize("name", EMBEDDED)
def test_determinism_and_num_images(name):
    a = load_embedded(name, split="private", num_images=5)
    b = load_embedded(name, split="private", num_images=5)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(a) == 5 and a.split == "private"
    longer = load_embedded(name, split="private", num_images=7)
    np.testing.assert_array_equal(longer.indices[:5], a.indices)
    # the cache must not be corrupted by callers: arrays are read-only
    with pytest.raises(ValueError):
        a.images[0, 0, 0, 0] = 5.0


def test_provenance_recorded():
    photos = load_embedded("photos", num_images=3, order="natural")
    assert photos.class_names[0] == "astronaut"
    assert all(s.startswith("skimage/data/astronaut.png[") for s in photos.sources)
    mixed = load_embedded("photos", num_images=3)
    assert [s.split("[")[0].rsplit("/", 1)[-1] for s in mixed.sources] == [
        "astronaut.png", "chelsea.png", "coffee.png"]
    faces = load_embedded("faces", split="public", num_images=4)
    assert [f"skimage/data/lfw_subset.npy[{i}]" for i in faces.indices] == list(faces.sources)
    np.testing.assert_array_equal(faces.labels, faces.indices)  # label = face index
    # faces are grayscale replicated to RGB
    np.testing.assert_array_equal(faces.images[..., 0], faces.images[..., 2])


def test_digits_match_sklearn_source():
    from sklearn.datasets import load_digits

    ds = load_embedded("digits", split="public", num_images=10)
    src = load_digits()
    np.testing.assert_array_equal(ds.labels, src.target[ds.indices])
    # the 28x28 image, pooled back to 8x8, resembles the 8x8 original (same ink layout)
    for img, i in zip(ds.images, ds.indices, strict=True):
        small = src.images[i] / 16.0
        corr = np.corrcoef(_area_downsample(img[:, :, 0], 8).ravel(), small.ravel())[0, 1]
        assert corr > 0.8


def _area_downsample(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img, mode="F").resize((size, size), Image.Resampling.BOX))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(name="mnist8"), "name='mnist8'"),
        (dict(name="digits", split="train"), "split='train'"),
        (dict(name="digits", split="public", num_images=0), "num_images=0"),
        (dict(name="faces", split="private", num_images=51), "num_images=51"),
    ],
)
def test_bad_inputs_name_argument_and_value(kwargs, fragment):
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    with pytest.raises(ValueError) as err:
        load_embedded(name, **kwargs)
    assert fragment in str(err.value)
    if "name=" in fragment:
        assert "digits" in str(err.value)  # lists the choices


def test_num_images_type_error():
    with pytest.raises(TypeError, match="num_images=2.5"):
        load_embedded("digits", num_images=2.5)


def test_load_dispatcher():
    ds = load("faces", split="public", num_images=3)
    assert len(ds) == 3 and ds.split == "public"
    assert load("digits", num_images=2).split == "all"
    with pytest.raises(ValueError, match="name='nope'"):
        load("nope")


def test_dataset_validation():
    spec = DataSpec("t", (2, 2, 1), 3)
    x = np.zeros((2, 2, 2, 1), np.float32)
    ok = Dataset(x, np.array([0, 2]), spec, "all", np.arange(2), ("a", "b", "c"))
    assert len(ok) == 2 and "n=2" in repr(ok)
    with pytest.raises(ValueError, match="labels span"):
        Dataset(x, np.array([0, 3]), spec, "all", np.arange(2), ("a", "b", "c"))
    with pytest.raises(ValueError, match="images.shape"):
        Dataset(x[..., 0], np.array([0, 1]), spec, "all", np.arange(2), ("a", "b", "c"))
    with pytest.raises(ValueError, match="class_names"):
        Dataset(x, np.array([0, 1]), spec, "all", np.arange(2), ("a",))


@pytest.mark.parametrize("name", EMBEDDED)
@pytest.mark.parametrize("split", ["all", "public", "private"])
def test_default_order_interleaves_sources_and_labels(name, split):
    """The first N victims come from N different photographs / faces / digit classes."""
    ds = load_embedded(name, split=split)
    c = len(np.unique(ds.labels))
    first = ds.labels[:c]
    assert len(np.unique(first)) == c, f"first {c} of {name}/{split}: labels {first}"
    # round-robin: every label's k-th image comes before any label's (k+2)-th
    rank = {}
    ks = []
    for lab in ds.labels.tolist():
        ks.append(rank.get(lab, 0))
        rank[lab] = ks[-1] + 1
    assert ks == sorted(ks)
    # the same set of images as the natural order, each once
    nat = load_embedded(name, split=split, order="natural")
    np.testing.assert_array_equal(np.sort(ds.indices), np.sort(nat.indices))
    if name == "photos":
        src = [s.split("[")[0] for s in ds.sources[:8]]
        assert len(set(src)) == 8, src  # 8 different photographs, not 8 crops of one
    with pytest.raises(ValueError, match="order='random'"):
        load_embedded(name, split=split, order="random")
