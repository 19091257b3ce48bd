"""Datasets for leakjax: embedded offline sets, TFDS loaders, and your own image files.

Every loader returns a :class:`Dataset` of float32 NHWC images in [0, 1] with int32 labels, the
:class:`~leakjax.types.DataSpec` (per-channel mean/std in [0, 1] units, std not variance) and
the indices of the images in their source, so results can record exactly which images were
used.

* :func:`load_embedded` -- ``"digits"``, ``"photos"``, ``"faces"``: real images shipped inside
  scikit-learn, scikit-image and matplotlib; no network, no download.
* :func:`load_tfds` -- MNIST, EMNIST, CIFAR-10/100, SVHN from a prepared TFDS directory.
* :func:`load_image_files` -- PNG/JPEG files with labels you give.
* :func:`load` -- dispatch on the name (embedded or TFDS).
"""

from __future__ import annotations

from leakjax.data.dataset import Dataset
from leakjax.data.embedded import EMBEDDED, load_embedded
from leakjax.data.files import load_image_files
from leakjax.data.text import (
    PYDOC_SOURCE,
    TFDS_TEXT_DATASETS,
    TextDataset,
    TextTokenizer,
    decode_ids,
    load_pydoc,
    load_tfds_text,
    load_tokenizer,
    pydoc_texts,
    pydoc_tokenizer,
    random_tokens,
    train_tokenizer,
)
from leakjax.data.tfds_loaders import EMNIST_CONFIGS, NORMALIZATION, TFDS_DATASETS, load_tfds


def load(
    name: str, *, split: str | None = None, num_images: int | None = None, **kwargs
) -> Dataset:
    """Load a dataset by name: an embedded one (:data:`EMBEDDED`) or a TFDS one.

    Args:
      name: a name in :data:`EMBEDDED`, in :data:`TFDS_DATASETS`, or ``"emnist/<config>"``.
      split: the split; ``None`` means ``"all"`` for embedded sets and ``"train"`` for TFDS.
      num_images: keep the first ``num_images`` images of the split (passed to
        ``load_embedded(num_images=)`` or ``load_tfds(num_examples=)``).
      **kwargs: further keyword arguments of :func:`load_embedded` or :func:`load_tfds`
        (``data_dir``, ``download``).

    Returns:
      The :class:`Dataset`.

    Raises:
      ValueError: ``name`` is neither an embedded nor a supported TFDS dataset.
    """
    if name in EMBEDDED:
        return load_embedded(
            name, split="all" if split is None else split, num_images=num_images, **kwargs
        )
    if isinstance(name, str) and (name in TFDS_DATASETS or name.startswith("emnist/")):
        return load_tfds(
            name, split="train" if split is None else split, num_examples=num_images, **kwargs
        )
    raise ValueError(
        f"load: name={name!r} is not a known dataset; expected one of EMBEDDED={EMBEDDED} or "
        f"TFDS_DATASETS={TFDS_DATASETS} (or 'emnist/<config>', config in {EMNIST_CONFIGS})"
    )


__all__ = [
    "EMBEDDED",
    "EMNIST_CONFIGS",
    "NORMALIZATION",
    "TFDS_DATASETS",
    "PYDOC_SOURCE",
    "TFDS_TEXT_DATASETS",
    "TextDataset",
    "TextTokenizer",
    "decode_ids",
    "load_pydoc",
    "load_tfds_text",
    "load_tokenizer",
    "pydoc_texts",
    "pydoc_tokenizer",
    "random_tokens",
    "train_tokenizer",
    "Dataset",
    "load",
    "load_embedded",
    "load_image_files",
    "load_tfds",
]
