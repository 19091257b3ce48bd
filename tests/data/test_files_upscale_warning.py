"""Issue 14.7: a file smaller than the model's input is upscaled with a warning giving the
factor; a larger one is not."""

import warnings

import numpy as np
import pytest
from PIL import Image

from leakjax.data import load_image_files


def test_a_1x1_image_warns_with_its_factor(tmp_path):
    p = tmp_path / "dot.png"
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(p)
    with pytest.warns(UserWarning, match=r"1x1 pixels; it is upscaled by a factor of 32 to 32x32"):
        ds = load_image_files([str(p)], [0], image_shape=(32, 32, 3))
    assert ds.images.shape == (1, 32, 32, 3)


def test_a_larger_image_does_not_warn(tmp_path):
    p = tmp_path / "big.png"
    Image.fromarray(np.zeros((64, 48, 3), np.uint8)).save(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image_files([str(p)], [0], image_shape=(32, 32, 3))
