"""TensorFlow Datasets loaders (random access, no TensorFlow needed to read).

:func:`load_tfds` reads an already prepared dataset through ``tfds.data_source``, which needs
the ``array_record`` file format but not TensorFlow. By default it never downloads: preparing a
dataset once needs network access (and, for these builders, TensorFlow, which they use to read
the raw files), for example::

    python -c "import tensorflow_datasets as tfds; \\
        tfds.builder('cifar10', file_format='array_record').download_and_prepare()"

A dataset prepared in the default ``tfrecord`` format cannot be read by ``data_source``; prepare
it again with ``file_format='array_record'`` (or pass ``download=True``).

EMNIST orientation: the EMNIST files, and so TFDS's ``emnist`` images, store every character
transposed (mirrored left-right and rotated 90 degrees anticlockwise) relative to MNIST. The
loader swaps the height and width axes so that EMNIST characters are upright like MNIST digits.
"""

from __future__ import annotations

import numpy as np

from leakjax.data.dataset import Dataset
from leakjax.types import DataSpec

#: Names accepted by :func:`load_tfds` (``"emnist/<config>"`` is accepted too).
TFDS_DATASETS = ("mnist", "emnist", "cifar10", "cifar100", "svhn_cropped")
#: EMNIST configurations of TFDS; ``"emnist"`` alone means ``"emnist/balanced"``.
EMNIST_CONFIGS = ("balanced", "letters", "byclass", "bymerge", "digits", "mnist")
EMNIST_DEFAULT_CONFIG = "balanced"

#: Standard per-channel normalisation statistics ``name -> (mean, std)`` in [0, 1] units
#: (``std`` is a standard deviation, not a variance).
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    # The commonly quoted EMNIST statistics (not recomputed here); used for every config.
    "emnist": ((0.1751,), (0.3332,)),
    # CIFAR values as in inversefed / Inverting Gradients (see docs/algorithms.md, card 3).
    "cifar10": ((0.4915, 0.4823, 0.4468), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5072, 0.4867, 0.4412), (0.2673, 0.2564, 0.2762)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    # For reference (torchvision ImageNet models); no loader here.
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

_EMNIST_BALANCED_NAMES = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") + tuple("abdefghnqrt")
# EMNIST letters: labels 1..26 are a..z (case merged); TFDS declares 37 classes, 0 and 27..36
# never occur in the real data.
_EMNIST_LETTERS_NAMES = ("unused_0",) + tuple("abcdefghijklmnopqrstuvwxyz")


def _canonical_name(name: str) -> tuple[str, str]:
    """``name`` -> (TFDS name, key into NORMALIZATION)."""
    if not isinstance(name, str):
        raise TypeError(f"load_tfds: name={name!r} must be a str, one of {TFDS_DATASETS}")
    if name == "emnist":
        return f"emnist/{EMNIST_DEFAULT_CONFIG}", "emnist"
    if name.startswith("emnist/"):
        config = name.split("/", 1)[1]
        if config not in EMNIST_CONFIGS:
            raise ValueError(
                f"load_tfds: name={name!r} has unknown EMNIST config {config!r}; expected "
                f"one of {tuple('emnist/' + c for c in EMNIST_CONFIGS)}"
            )
        return name, "emnist"
    if name in TFDS_DATASETS:
        return name, name
    raise ValueError(
        f"load_tfds: name={name!r} is not supported; expected one of {TFDS_DATASETS} "
        f"or 'emnist/<config>' with config in {EMNIST_CONFIGS}"
    )


def _prepare_command(tfds_name: str, data_dir: str | None) -> str:
    dd = f", data_dir={data_dir!r}" if data_dir is not None else ""
    return (
        'python -c "import tensorflow_datasets as tfds; '
        f"tfds.builder('{tfds_name}', file_format='array_record'{dd}).download_and_prepare()\""
    )


def load_tfds(
    name: str,
    *,
    split: str = "train",
    num_examples: int | None = None,
    data_dir: str | None = None,
    download: bool = False,
) -> Dataset:
    """Load a prepared TFDS image-classification dataset into memory.

    Args:
      name: ``"mnist"``, ``"emnist"`` (= ``"emnist/balanced"``: 47 classes, digits, upper-case
        letters and the 11 lower-case letters that differ from their capitals),
        ``"emnist/<config>"`` (e.g. ``"emnist/letters"``: TFDS declares 37 classes, the real
        labels are 1..26 = a..z with upper and lower case merged), ``"cifar10"``,
        ``"cifar100"`` (fine labels) or ``"svhn_cropped"`` (32x32 digits, labels 0..9).
      split: a TFDS split string (``"train"``, ``"test"``, ``"train[:1000]"``, ...).
      num_examples: keep the first ``num_examples`` examples of the split; ``None`` keeps all
        (the whole CIFAR-10 train split is 600 MB as float32).
      data_dir: TFDS data directory (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      download: download and prepare the dataset when it is missing (needs network).

    Returns:
      A :class:`Dataset`: float32 NHWC images in [0, 1] (EMNIST made upright), int32 labels,
      ``indices`` = positions in the TFDS split, ``split`` = the split string, and a spec with
      the standard :data:`NORMALIZATION` statistics of the dataset.

    Raises:
      ValueError: unsupported ``name``, invalid ``num_examples``, or an unreadable split.
      FileNotFoundError: the dataset is not prepared under ``data_dir`` (the message shows the
        command that prepares it).
    """
    tfds_name, norm_key = _canonical_name(name)
    if num_examples is not None:
        if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)):
            raise TypeError(f"load_tfds: num_examples={num_examples!r} must be an int or None")
        if num_examples < 1:
            raise ValueError(f"load_tfds: num_examples={num_examples!r}, expected an int >= 1")

    import tensorflow_datasets as tfds

    builder_kwargs = {"file_format": "array_record"}
    try:
        source = tfds.data_source(
            tfds_name,
            split=split,
            data_dir=data_dir,
            download=download,
            builder_kwargs=builder_kwargs,
        )
    except NotImplementedError as e:
        raise FileNotFoundError(
            f"load_tfds: name={name!r} is prepared under data_dir={data_dir!r} in a format "
            "without random access (tfrecord); prepare it in array_record format with\n  "
            f"{_prepare_command(tfds_name, data_dir)}\n({e})"
        ) from None
    except Exception as e:
        try:
            builder = tfds.builder(tfds_name, data_dir=data_dir, **builder_kwargs)
            prepared = builder.is_prepared()
            where = str(builder.data_path)
        except Exception:  # only used to phrase the message
            prepared, where = False, str(data_dir)
        if prepared:
            raise ValueError(
                f"load_tfds: could not read split={split!r} of name={name!r} from {where} "
                f"({type(e).__name__}: {e})"
            ) from None
        raise FileNotFoundError(
            f"load_tfds: name={name!r} is not downloaded/prepared (looked in {where}); "
            "load_tfds(download=False) never downloads. Prepare it once (needs network and "
            f"TensorFlow) with\n  {_prepare_command(tfds_name, data_dir)}\n"
            f"or call load_tfds({name!r}, download=True). ({type(e).__name__}: {e})"
        ) from None

    info = source.dataset_info
    label_feature = info.features["label"]
    num_classes = int(label_feature.num_classes)
    n_total = len(source)
    if num_examples is not None and num_examples > n_total:
        raise ValueError(
            f"load_tfds: num_examples={num_examples!r} but split={split!r} of {name!r} has "
            f"only {n_total} examples; expected num_examples <= {n_total}"
        )
    n = n_total if num_examples is None else int(num_examples)

    image_shape = tuple(int(s) for s in info.features["image"].shape)
    is_emnist = tfds_name.startswith("emnist/")
    if is_emnist:
        image_shape = (image_shape[1], image_shape[0], image_shape[2])
    images = np.empty((n,) + image_shape, dtype=np.float32)
    labels = np.empty((n,), dtype=np.int32)
    for i in range(n):
        example = source[i]
        img = np.asarray(example["image"])
        if img.ndim == 2:
            img = img[..., None]
        if is_emnist:
            img = img.transpose(1, 0, 2)
        images[i] = img.astype(np.float32) / 255.0
        labels[i] = int(example["label"])

    mean, std = NORMALIZATION[norm_key]
    spec = DataSpec(
        name=tfds_name, image_shape=image_shape, num_classes=num_classes, mean=mean, std=std
    )
    if tfds_name == "emnist/balanced" and num_classes == len(_EMNIST_BALANCED_NAMES):
        class_names = _EMNIST_BALANCED_NAMES
    elif tfds_name == "emnist/letters" and num_classes >= len(_EMNIST_LETTERS_NAMES):
        extra = range(len(_EMNIST_LETTERS_NAMES), num_classes)
        class_names = _EMNIST_LETTERS_NAMES + tuple(f"unused_{k}" for k in extra)
    else:
        names = getattr(label_feature, "names", None)
        class_names = tuple(names) if names else tuple(str(c) for c in range(num_classes))
    return Dataset(
        images=images,
        labels=labels,
        spec=spec,
        split=split,
        indices=np.arange(n, dtype=np.int64),
        class_names=class_names,
    )
