"""Offline datasets built at call time from real images that installed packages ship.

Nothing here touches the network: every image is read from a file inside an installed package
(scikit-learn, scikit-image, matplotlib), decoded with PIL or NumPy, and resized with PIL. The
arrays are built on first use and cached for the life of the process.

Datasets (``EMBEDDED``):

``"digits"`` (1797 images, 28x28x1, 10 classes)
  scikit-learn's ``load_digits``: the test set of the UCI "Optical Recognition of Handwritten
  Digits" data (E. Alpaydin, 1998; NIST-preprocessed 32x32 bitmaps pooled to 8x8 counts in
  0..16, written by 13 of the 43 UCI writers). Each 8x8 image is divided by 16, upsampled to
  28x28 with bicubic interpolation, then clipped to [0, 1]. Labels are the digits 0..9. The
  UCI repository distributes the data under CC BY 4.0.

``"photos"`` (14 crops per photograph, 154 images when all 11 photographs are present,
32x32x3, one class per photograph)
  Square crops of real photographs, read directly from the package data folders (the
  ``skimage.data`` fetchers are *not* used, so pooch and the network are never involved).
  Crops, in this order for every photograph: the largest centred square (1), a 2x2 grid of
  squares of side 0.7 x the short side (4), and a 3x3 grid of squares of side 0.45 x the short
  side (9); each grid spans the whole image. Every crop is resized to 32x32 with PIL's bicubic
  filter (antialiased when shrinking). Label = index of the source photograph in
  ``class_names``. Sources and the licence notes their packages give:

  * scikit-image ``skimage/data/`` (its README.txt only says the folder holds a subset of
    scikit-image's sample data; the licence notes below come from the docstrings of the
    matching ``skimage.data`` functions):
    ``astronaut.png`` (NASA, Eileen Collins; no known copyright restrictions, public domain),
    ``chelsea.png`` (the cat; CC0, Stefan van der Walt),
    ``coffee.png`` (CC0, Rachel Michetti, courtesy of Pikolo Espresso Bar),
    ``rocket.jpg`` (SpaceX DSCOVR launch; released into the public domain by SpaceX),
    ``motorcycle_left.png`` (Middlebury 2014 stereo benchmark, Scharstein et al., downsampled
    4x; no licence note in scikit-image),
    ``hubble_deep_field.jpg`` (NASA Hubble eXtreme Deep Field; public domain),
    ``retina.jpg`` (fundus photograph by Mikael Haggstrom on Wikimedia; CC0 1.0),
    ``ihc.png`` (immunohistochemistry, colonic glands, CMMI; no known copyright restrictions).
  * scikit-learn ``sklearn/datasets/images/`` (README.txt): ``china.jpg`` and ``flower.jpg``,
    both "released under a creative commons license" (CC BY 2.0), Flickr photographs by
    danielbuechele and vultilion respectively, retrieved in 2011 by Robert Layton.
  * matplotlib ``mpl-data/sample_data/grace_hopper.jpg`` (Rear Admiral Grace Hopper; the
    README.txt there only says the folder holds sample data for matplotlib's examples; the
    picture is generally described as an official U.S. Navy photograph, i.e. public domain).

  A photograph whose file is missing is skipped with a warning (the class count shrinks); fewer
  than 4 available photographs is an error. The grayscale, synthetic and microscopy-of-cells
  images of those folders (``camera.png``, ``color.png``, ``coins.png``, test patterns...) are
  not used. ``class_names`` are the first entries of :data:`PHOTO_SOURCES`.

``"faces"`` (100 images, 32x32x3, 100 classes)
  scikit-image's ``skimage/data/lfw_subset.npy``: 200 grayscale 25x25 crops in [0, 1] taken
  from Labeled Faces in the Wild (Huang et al.); the first 100 are faces, the rest non-face
  background patches (not used). Faces are resized to 32x32 (bicubic, clipped to [0, 1]) and
  replicated to 3 channels, matching the 32x32 RGB LFW setting of iDLG with the 3-channel LeNet.
  The file does not record identities, so the label of a face is its index 0..99 (one image per
  class). scikit-image gives no licence note for this file; LFW is a research benchmark of news
  photographs collected from the web.

Order (``order=``): by default (``"interleaved"``) every split is taken **round-robin over its
labels**: the first image of every class, then the second of every class, and so on, so the
first N victims come from N different photographs, faces or digit classes (up to the number of
classes). For ``"all"`` the classes go in label order and each class keeps its natural order;
for ``"public"``/``"private"`` both follow the hashed orders below. ``order="natural"`` gives
``indices == arange(N)`` for ``"all"`` (photograph by photograph for ``"photos"``: 14
overlapping crops of one photograph first) and the hashed order for the splits.

Splits (``split=``):
  ``"all"`` is the whole dataset. ``"public"`` and ``"private"`` partition it,
  deterministically and independently of the NumPy version: images are grouped by label (the
  groups ordered by ``sha256("leakjax/<name>/class/<label>")``) and, within a label, ordered by
  ``sha256("leakjax/<name>/<index>")``; walking that order, images alternate public, private,
  public, ... So every class is split half/half (within one image), ``public`` has
  ``ceil(N/2)`` images and ``private`` ``floor(N/2)``. Within each split the images are
  ordered by ``sha256("leakjax/<name>/order/<index>")`` (then interleaved by label, above). ``public`` is meant for training generators and classifiers, ``private`` for victims.
  For ``"photos"`` the two splits hold different crops of the *same* photographs (the class is
  the photograph), so crops overlap in content. For ``"faces"`` every class (face image) is in
  exactly one split, so private labels never occur in public; the same person may still appear
  under two indices, since identities are not recorded. (``sha256(...)`` means the first 8
  bytes of the SHA-256 digest of the UTF-8 text, read as a big-endian integer.)

Normalisation: each :class:`~leakjax.types.DataSpec` carries the per-channel mean and standard
deviation (not variance) of the full dataset's [0, 1] pixels; :meth:`Dataset.raw_spec` gives
mean 0 / std 1 for models that see raw pixels (DLG, iDLG).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from leakjax.data.dataset import Dataset
from leakjax.types import DataSpec

EMBEDDED = ("digits", "photos", "faces")
SPLITS = ("all", "public", "private")
ORDERS = ("interleaved", "natural")

#: The photographs used by ``"photos"``: (class name, package, path inside the package).
PHOTO_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "skimage", "data/astronaut.png"),
    ("chelsea", "skimage", "data/chelsea.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("motorcycle", "skimage", "data/motorcycle_left.png"),
    ("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg"),
    ("retina", "skimage", "data/retina.jpg"),
    ("ihc", "skimage", "data/ihc.png"),
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)

#: Crop layout per photograph: (side as a fraction of the short side, grid size per axis).
PHOTO_CROPS: tuple[tuple[float, int], ...] = ((1.0, 1), (0.7, 2), (0.45, 3))

_MIN_PHOTO_SOURCES = 4
_DIGITS_SIZE = 28
_PHOTO_SIZE = 32
_FACE_SIZE = 32
_NUM_FACES = 100


def load_embedded(
    name: str,
    *,
    split: str = "all",
    num_images: int | None = None,
    order: str = "interleaved",
) -> Dataset:
    """Load one of the embedded offline datasets.

    Args:
      name: one of ``EMBEDDED`` (``"digits"``, ``"photos"``, ``"faces"``); see the module
        docstring for what each contains and where it comes from.
      split: ``"all"``, ``"public"`` or ``"private"`` (a fixed, disjoint, label-stratified
        half/half partition).
      num_images: keep only the first ``num_images`` images of the split; ``None`` keeps all.
      order: ``"interleaved"`` (default: round-robin over labels, so the first N images come
        from N different photographs / faces / digit classes) or ``"natural"`` (see the module
        docstring).

    Returns:
      A :class:`Dataset` with float32 NHWC images in [0, 1], int32 labels, ``indices`` into the
      full dataset, and a spec whose mean/std are the full dataset's per-channel statistics.

    Raises:
      ValueError: unknown ``name`` or ``split``, or ``num_images`` not in
        ``[1, size of the split]``.
      TypeError: ``num_images`` is not an int.
      FileNotFoundError: fewer than 4 of the photographs of ``"photos"`` are installed, or
        scikit-image's ``lfw_subset.npy`` is missing for ``"faces"``.

    Example:
      >>> ds = load_embedded("digits", split="private", num_images=4)
      >>> ds.images.shape, ds.spec.num_classes
      ((4, 28, 28, 1), 10)
    """
    if name not in EMBEDDED:
        raise ValueError(
            f"load_embedded: name={name!r} is not an embedded dataset; expected one of {EMBEDDED}"
        )
    if split not in SPLITS:
        raise ValueError(f"load_embedded: split={split!r}, expected one of {SPLITS}")
    if order not in ORDERS:
        raise ValueError(f"load_embedded: order={order!r}, expected one of {ORDERS}")
    full = _build(name)
    idx = full.splits[split]
    if order == "interleaved":
        idx = interleave_by_label(name, idx, full.labels, hashed_classes=split != "all")
    if num_images is not None:
        if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)):
            raise TypeError(
                f"load_embedded: num_images={num_images!r} must be an int or None, "
                f"got {type(num_images).__name__}"
            )
        if not 1 <= num_images <= len(idx):
            raise ValueError(
                f"load_embedded: num_images={num_images!r}, expected an int in [1, {len(idx)}] "
                f"(the size of split {split!r} of {name!r})"
            )
        idx = idx[: int(num_images)]
    return Dataset(
        images=full.images[idx],
        labels=full.labels[idx],
        spec=full.spec,
        split=split,
        indices=idx,
        class_names=full.class_names,
        sources=tuple(full.sources[i] for i in idx) if full.sources else (),
    )


# --------------------------------------------------------------------------------------------
# Building and caching
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Full:
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    sources: tuple[str, ...]
    spec: DataSpec
    splits: dict[str, np.ndarray]


@functools.cache
def _build(name: str) -> _Full:
    builder = {"digits": _build_digits, "photos": _build_photos, "faces": _build_faces}[name]
    images, labels, class_names, sources = builder()
    images = np.clip(images, 0.0, 1.0).astype(np.float32)
    labels = labels.astype(np.int32)
    images.flags.writeable = False
    labels.flags.writeable = False
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64)
    spec = DataSpec(
        name=name,
        image_shape=images.shape[1:],
        num_classes=len(class_names),
        mean=tuple(pixels.mean(axis=0)),
        std=tuple(pixels.std(axis=0)),
    )
    return _Full(
        images=images,
        labels=labels,
        class_names=tuple(class_names),
        sources=tuple(sources),
        spec=spec,
        splits=split_indices(name, labels),
    )


def _hash_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def split_indices(name: str, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The ``"all"``/``"public"``/``"private"`` index arrays of a dataset (see module doc)."""
    labels = np.asarray(labels)
    n = len(labels)

    def rank(i: int) -> tuple[int, int, int]:
        label = int(labels[i])
        return (_hash_key(f"leakjax/{name}/class/{label}"), label, _hash_key(f"leakjax/{name}/{i}"))

    order = sorted(range(n), key=rank)
    out = {"all": np.arange(n, dtype=np.int64)}
    for split, part in (("public", order[0::2]), ("private", order[1::2])):
        part = sorted(part, key=lambda i: _hash_key(f"leakjax/{name}/order/{i}"))
        out[split] = np.asarray(part, dtype=np.int64)
    for a in out.values():
        a.flags.writeable = False
    return out


def interleave_by_label(
    name: str, idx: np.ndarray, labels: np.ndarray, *, hashed_classes: bool
) -> np.ndarray:
    """``idx`` reordered round-robin over labels (keeping each label's relative order).

    The k-th image of every class comes before the (k+1)-th of any class; within one round the
    classes go in label order, or in ``sha256("leakjax/<name>/class/<label>")`` order when
    ``hashed_classes``.
    """
    idx = np.asarray(idx)
    seen: dict[int, int] = {}
    keys = []
    for pos, i in enumerate(idx):
        label = int(labels[i])
        k = seen.get(label, 0)
        seen[label] = k + 1
        cls = _hash_key(f"leakjax/{name}/class/{label}") if hashed_classes else label
        keys.append((k, cls, label, pos))
    return idx[[key[-1] for key in sorted(keys)]]


def _resize_float(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a 2-D float image to ``size=(H, W)`` via PIL's 32-bit float mode."""
    pil = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F")
    out = pil.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.float32)


def _build_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.asarray(bunch.images, dtype=np.float32) / 16.0  # (1797, 8, 8), 0..16 -> [0, 1]
    size = (_DIGITS_SIZE, _DIGITS_SIZE)
    images = np.stack([_resize_float(im, size) for im in small])[..., None]
    labels = np.asarray(bunch.target)
    return images, labels, tuple(str(d) for d in range(10)), ()


def _package_dir(package: str) -> str | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _photo_paths() -> list[tuple[str, str, str]]:
    """(class name, display name, absolute path) of every available photograph."""
    found, missing = [], []
    for cls, package, rel in PHOTO_SOURCES:
        root = _package_dir(package)
        path = os.path.join(root, *rel.split("/")) if root else None
        if path and os.path.isfile(path):
            found.append((cls, f"{package}/{rel}", path))
        else:
            missing.append(f"{package}/{rel}")
    if missing:
        warnings.warn(
            f"load_embedded('photos'): skipping missing photographs {missing}", stacklevel=4
        )
    if len(found) < _MIN_PHOTO_SOURCES:
        raise FileNotFoundError(
            f"load_embedded: name='photos' needs at least {_MIN_PHOTO_SOURCES} of the shipped "
            f"photographs, found {len(found)} (missing: {missing}); install scikit-image, "
            "scikit-learn and matplotlib with their data files"
        )
    return found


def _crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    boxes = []
    short = min(width, height)
    for frac, grid in PHOTO_CROPS:
        side = max(1, round(frac * short))
        if grid == 1:
            xs, ys = [(width - side) // 2], [(height - side) // 2]
        else:
            xs = np.round(np.linspace(0, width - side, grid)).astype(int).tolist()
            ys = np.round(np.linspace(0, height - side, grid)).astype(int).tolist()
        boxes.extend((x, y, x + side, y + side) for y in ys for x in xs)
    return boxes


def _build_photos():
    images, labels, sources, class_names = [], [], [], []
    for label, (cls, display, path) in enumerate(_photo_paths()):
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
        class_names.append(cls)
        for box in _crop_boxes(*im.size):
            crop = im.resize((_PHOTO_SIZE, _PHOTO_SIZE), Image.Resampling.BICUBIC, box=box)
            images.append(np.asarray(crop, dtype=np.float32) / 255.0)
            labels.append(label)
            x0, y0, x1, y1 = box
            sources.append(f"{display}[{y0}:{y1}, {x0}:{x1}]")
    return np.stack(images), np.asarray(labels), tuple(class_names), tuple(sources)


def _build_faces():
    root = _package_dir("skimage")
    path = os.path.join(root, "data", "lfw_subset.npy") if root else None
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            "load_embedded: name='faces' needs scikit-image's data file "
            f"skimage/data/lfw_subset.npy, not found (looked at {path!r})"
        )
    arr = np.load(path, allow_pickle=False)
    if arr.ndim != 3 or arr.shape[0] < _NUM_FACES:
        raise ValueError(
            f"load_embedded: {path!r} has shape {arr.shape}, expected (200, 25, 25) "
            "(100 faces then 100 non-faces)"
        )
    faces = np.asarray(arr[:_NUM_FACES], dtype=np.float32)
    if faces.max() > 1.0:  # older releases stored uint8
        faces = faces / 255.0
    size = (_FACE_SIZE, _FACE_SIZE)
    gray = np.stack([_resize_float(f, size) for f in faces])[..., None]
    images = np.repeat(gray, 3, axis=-1)
    sources = tuple(f"skimage/data/lfw_subset.npy[{i}]" for i in range(_NUM_FACES))
    class_names = tuple(f"face_{i:03d}" for i in range(_NUM_FACES))
    return images, np.arange(_NUM_FACES), class_names, sources
