"""Tests for leakjax.data.load_image_files on PNG/JPEG files written into tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from leakjax.data import load_image_files


def _gradient_rgb(h: int, w: int) -> np.ndarray:
    y = np.linspace(0, 255, h)[:, None] * np.ones((1, w))
    x = np.ones((h, 1)) * np.linspace(0, 255, w)[None, :]
    return np.stack([y, x, 255 - y], axis=-1).round().astype(np.uint8)


@pytest.fixture
def image_files(tmp_path):
    paths = {}
    rgb = _gradient_rgb(50, 80)  # wide RGB PNG
    paths["rgb_png"] = tmp_path / "wide.png"
    Image.fromarray(rgb).save(paths["rgb_png"])
    paths["rgb_jpg"] = tmp_path / "tall.jpg"  # tall RGB JPEG
    Image.fromarray(_gradient_rgb(90, 40)).save(paths["rgb_jpg"], quality=95)
    gray = np.tile(np.linspace(0, 255, 17).round().astype(np.uint8), (17, 1))
    paths["gray_png"] = tmp_path / "gray.png"  # small grayscale PNG (upsampled)
    Image.fromarray(gray, mode="L").save(paths["gray_png"])
    paths["gray_jpg"] = tmp_path / "gray.jpeg"
    Image.fromarray(np.full((40, 40), 200, np.uint8), mode="L").save(paths["gray_jpg"])
    paths["rgba_png"] = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, np.full((50, 80), 128, np.uint8)]), "RGBA").save(
        paths["rgba_png"]
    )
    return {k: str(v) for k, v in paths.items()}


def test_rgb_loading_shapes_ranges_and_metadata(image_files):
    paths = [image_files[k] for k in ("rgb_png", "rgb_jpg", "gray_png", "gray_jpg", "rgba_png")]
    ds = load_image_files(paths, [0, 1, 2, 3, 4], image_shape=(32, 32, 3), num_classes=10)
    assert ds.images.shape == (5, 32, 32, 3) and ds.images.dtype == np.float32
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    np.testing.assert_array_equal(ds.labels, [0, 1, 2, 3, 4])
    assert ds.labels.dtype == np.int32
    np.testing.assert_array_equal(ds.indices, np.arange(5))
    assert ds.sources == tuple(paths) and ds.split == "files"
    assert ds.spec.image_shape == (32, 32, 3) and ds.spec.num_classes == 10
    assert ds.spec.mean == (0.0,) * 3 and ds.spec.std == (1.0,) * 3  # raw spec
    assert len(ds.class_names) == 10
    # grayscale files become 3 equal channels
    np.testing.assert_allclose(ds.images[2, ..., 0], ds.images[2, ..., 1], atol=1e-6)
    np.testing.assert_allclose(ds.images[3], 200 / 255, atol=2 / 255)  # JPEG of a flat image


def test_center_crop_and_resize_preserve_content(image_files):
    ds = load_image_files(image_files["rgb_png"], 0, image_shape=(16, 16, 3))
    img = ds.images[0]
    # channel 0 ramps top->bottom over the full height (the crop is horizontal-only)
    col = img[:, 8, 0]
    assert np.all(np.diff(col) > 0) and col[0] < 0.1 and col[-1] > 0.9
    # channel 1 ramps left->right but only over the central 50/80 of the width
    row = img[8, :, 1]
    assert np.all(np.diff(row) > 0)
    assert 0.15 < row[0] < 0.3 and 0.7 < row[-1] < 0.85
    # the alpha channel is dropped: RGBA gives the same colors
    rgba = load_image_files(image_files["rgba_png"], 0, image_shape=(16, 16, 3))
    np.testing.assert_allclose(rgba.images, ds.images, atol=1e-6)


def test_grayscale_target_and_non_square_shape(image_files):
    paths = [image_files["rgb_png"], image_files["gray_png"]]
    ds = load_image_files(paths, "1, 0", image_shape=(28, 20, 1))
    assert ds.images.shape == (2, 28, 20, 1)
    assert ds.spec.num_classes == 2  # max(labels) + 1
    np.testing.assert_array_equal(ds.labels, [1, 0])
    gray_row = ds.images[1, 14, :, 0]  # the 0..255 horizontal ramp, upsampled
    assert np.all(np.diff(gray_row) >= -1e-6) and gray_row[-1] - gray_row[0] > 0.5


def test_sixteen_bit_png(tmp_path):
    arr = np.tile(np.linspace(0, 65535, 8).round().astype(np.uint16), (8, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    ds = load_image_files([path], [0], image_shape=(8, 8, 3))
    np.testing.assert_allclose(ds.images[0, 0, :, 1], np.linspace(0, 1, 8), atol=1e-3)


def test_missing_file(image_files, tmp_path):
    missing = str(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError) as err:
        load_image_files([image_files["rgb_png"], missing], [0, 1], image_shape=(8, 8, 3))
    assert "paths[1]" in str(err.value) and missing in str(err.value)


def test_corrupt_and_wrong_format_files(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(ValueError) as err:
        load_image_files([str(bad)], [0], image_shape=(8, 8, 3))
    assert str(bad) in str(err.value) and "not a readable PNG/JPEG" in str(err.value)

    truncated = tmp_path / "trunc.jpg"
    Image.fromarray(_gradient_rgb(64, 64)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable PNG/JPEG"):
        load_image_files([str(truncated)], [0], image_shape=(8, 8, 3))

    gif = tmp_path / "anim.gif"
    Image.fromarray(_gradient_rgb(8, 8)).save(gif)
    with pytest.raises(ValueError) as err:
        load_image_files([str(gif)], [0], image_shape=(8, 8, 3))
    assert "GIF" in str(err.value) and "PNG/JPEG" in str(err.value)


@pytest.mark.parametrize(
    "labels, kwargs, exc, fragments",
    [
        ([0], {}, ValueError, ["labels=[0]", "1 entries", "paths has 2"]),
        ([0, -1], {}, ValueError, ["labels[1]=-1", "num_classes="]),
        ([0, 5], {"num_classes": 5}, ValueError, ["labels[1]=5", "num_classes=5"]),
        ("0,x", {}, ValueError, ["labels='0,x'", "'x'"]),
        ([0, 1.5], {}, TypeError, ["labels[1]=1.5"]),
        ([0, 1], {"num_classes": 0}, ValueError, ["num_classes=0"]),
        ([0, 1], {"image_shape": (8, 8, 2)}, ValueError, ["image_shape=(8, 8, 2)"]),
        ([0, 1], {"image_shape": (8, 8)}, ValueError, ["image_shape=(8, 8)"]),
    ],
)
def test_bad_inputs_name_argument_and_value(image_files, labels, kwargs, exc, fragments):
    kwargs = {"image_shape": (8, 8, 3), **kwargs}
    with pytest.raises(exc) as err:
        load_image_files([image_files["rgb_png"], image_files["gray_png"]], labels, **kwargs)
    for f in fragments:
        assert f in str(err.value), (f, str(err.value))


def test_empty_paths():
    with pytest.raises(ValueError, match="paths=\\[\\]"):
        load_image_files([], [], image_shape=(8, 8, 3))
