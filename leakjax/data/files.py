"""Load your own PNG/JPEG images as a :class:`~leakjax.data.Dataset`.

Decoding is PIL only (no pickle, no ``np.load``), so loading a file never runs code from it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from leakjax.data.dataset import Dataset
from leakjax.types import DataSpec

#: PIL format names accepted (MPO is the multi-picture JPEG some cameras write).
IMAGE_FORMATS = ("PNG", "JPEG", "MPO")
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def load_image_files(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    labels: int | str | Sequence[int],
    *,
    image_shape: Sequence[int],
    num_classes: int | None = None,
) -> Dataset:
    """Read PNG/JPEG files of any size into a [0, 1] float32 NHWC dataset.

    Each file is decoded with PIL, turned upright according to its EXIF orientation, converted
    to grayscale (``"L"``) when ``image_shape`` has 1 channel or RGB when it has 3 (an alpha
    channel is dropped, not composited), centre-cropped to the aspect ratio of ``image_shape``
    (a centre square when ``H == W``) and resized to ``(H, W)`` with PIL's bicubic filter, which
    antialiases when shrinking. 8-bit files are scaled by 1/255, 16-bit PNGs by 1/65535. A file
    smaller than ``(H, W)`` is upscaled with a ``UserWarning`` that gives the factor.

    Args:
      paths: one path or a sequence of paths to PNG or JPEG files.
      labels: one integer class id per file, as a sequence of ints or a comma-separated string
        (``"3, 0, 7"``); a single int is accepted for a single file.
      image_shape: ``(H, W, C)`` of the result, ``C`` in ``{1, 3}``.
      num_classes: number of classes of the spec; ``None`` means ``max(labels) + 1``.

    Returns:
      A :class:`Dataset` with ``split="files"``, ``indices`` = positions in ``paths``,
      ``sources`` = the paths, class names ``"0"..."C-1"``, and a *raw* spec (mean 0, std 1);
      use ``ds.spec.with_stats(mean, std)`` (for example with
      :data:`leakjax.data.NORMALIZATION` values) to match the model you attack.

    Raises:
      FileNotFoundError: a path does not exist.
      ValueError: a file is not a readable PNG/JPEG, ``labels`` does not have one entry per
        path, a label is negative or ``>= num_classes``, or ``image_shape`` is invalid.
      TypeError: a label is not an integer.
    """
    shape = _check_image_shape(image_shape)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("load_image_files: paths=[] is empty, expected at least one file")
    label_list = _parse_labels(labels)
    if len(label_list) != len(paths):
        raise ValueError(
            f"load_image_files: labels={labels!r} has {len(label_list)} entries but "
            f"paths has {len(paths)}; expected one label per path"
        )
    if num_classes is None:
        num_classes = max(label_list) + 1 if min(label_list) >= 0 else 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"load_image_files: num_classes={num_classes!r} must be an int or None")
    if num_classes < 1:
        raise ValueError(f"load_image_files: num_classes={num_classes!r}, expected an int >= 1")
    for i, label in enumerate(label_list):
        if not 0 <= label < num_classes:
            raise ValueError(
                f"load_image_files: labels[{i}]={label!r} (for {paths[i]!r}) is out of range; "
                f"expected 0 <= label < num_classes={num_classes}"
            )
    upscaled: list[str] = []
    images = np.stack([_read_image(p, i, shape, upscaled) for i, p in enumerate(paths)])
    for message in upscaled:
        warnings.warn(message, stacklevel=2)
    spec = DataSpec(name="files", image_shape=shape, num_classes=int(num_classes))
    return Dataset(
        images=images,
        labels=np.asarray(label_list, dtype=np.int32),
        spec=spec,
        split="files",
        indices=np.arange(len(paths), dtype=np.int64),
        class_names=tuple(str(c) for c in range(int(num_classes))),
        sources=tuple(paths),
    )


def _check_image_shape(image_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in image_shape)
        ok = len(shape) == 3 and all(
            float(s) == int(s) and not isinstance(s, bool) for s in image_shape
        )
    except (TypeError, ValueError):
        ok = False
    if not ok or min(shape) < 1 or shape[2] not in (1, 3):
        raise ValueError(
            f"load_image_files: image_shape={image_shape!r}, expected (H, W, C) with positive "
            "integer H and W and C in {1, 3}"
        )
    return shape


def _parse_labels(labels) -> list[int]:
    if isinstance(labels, str):
        parts = [p.strip() for p in labels.split(",")]
        out = []
        for i, p in enumerate(parts):
            try:
                out.append(int(p))
            except ValueError:
                raise ValueError(
                    f"load_image_files: labels={labels!r}: entry {i} ({p!r}) is not an "
                    "integer; expected comma-separated integer class ids like '3,0,7'"
                ) from None
        return out
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        return [int(labels)]
    try:
        items = list(np.asarray(labels).reshape(-1)) if hasattr(labels, "shape") else list(labels)
    except TypeError:
        raise TypeError(
            f"load_image_files: labels={labels!r} must be a sequence of ints or a "
            "comma-separated string"
        ) from None
    out = []
    for i, v in enumerate(items):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(
                f"load_image_files: labels[{i}]={v!r} is a {type(v).__name__}, "
                "expected an integer class id"
            )
        out.append(int(v))
    return out


def _read_image(path: str, i: int, shape: tuple[int, int, int], upscaled: list) -> np.ndarray:
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_image_files: paths[{i}]={path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"load_image_files: paths[{i}]={path!r} is not a file")
    h, w, c = shape
    try:
        with Image.open(path) as im:
            if im.format not in IMAGE_FORMATS:
                raise ValueError(
                    f"load_image_files: paths[{i}]={path!r} is a {im.format} image, "
                    "expected a readable PNG/JPEG file"
                )
            im = ImageOps.exif_transpose(im)
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(
            f"load_image_files: paths[{i}]={path!r} is not a readable PNG/JPEG file ({e})"
        ) from None

    if im.mode in _SIXTEEN_BIT_MODES:
        arr = np.asarray(im, dtype=np.float32) / 65535.0
        planes = [Image.fromarray(arr, mode="F")]
        scale = 1.0
    elif c == 1:
        planes = [im.convert("L")]
        scale = 255.0
    else:
        planes = list(im.convert("RGB").split())
        scale = 255.0
    box = _center_box(im.width, im.height, w / h)
    factor = max(h / (box[3] - box[1]), w / (box[2] - box[0]))
    if factor > 1.0 + 1e-6:
        upscaled.append(
            f"load_image_files: paths[{i}]={path!r} is {im.width}x{im.height} pixels; it is "
            f"upscaled by a factor of {factor:.3g} to {w}x{h} (the reconstruction can show no "
            "more detail than the file has)"
        )
    out = []
    for plane in planes:
        plane = plane if plane.mode == "F" else plane.convert("F")
        resized = plane.resize((w, h), Image.Resampling.BICUBIC, box=box)
        out.append(np.asarray(resized, dtype=np.float32) / scale)
    arr = np.stack(out, axis=-1)
    if arr.shape[-1] != c:  # a 16-bit grayscale file read into an RGB dataset
        arr = np.repeat(arr, c, axis=-1)
    return np.clip(arr, 0.0, 1.0)


def _center_box(width: int, height: int, aspect: float) -> tuple[float, float, float, float]:
    """Largest centred box of aspect ratio ``aspect = W / H`` inside a ``width x height`` image."""
    if width / height > aspect:
        crop_w, crop_h = height * aspect, float(height)
    else:
        crop_w, crop_h = float(width), width / aspect
    x0 = (width - crop_w) / 2
    y0 = (height - crop_h) / 2
    return (x0, y0, x0 + crop_w, y0 + crop_h)
