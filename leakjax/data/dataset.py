"""The :class:`Dataset` container returned by every loader in :mod:`leakjax.data`."""

from __future__ import annotations

import dataclasses

import numpy as np

from leakjax.types import DataSpec


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A small in-memory labelled image set, with the provenance of every image.

    All arrays are NumPy (host) arrays and are **read-only**: loaders cache what they build, so
    the same buffers may be handed to several callers. Copy (``np.array(ds.images)``) before
    modifying them.

    Attributes:
      images: float32 NHWC images in **[0, 1]**, shape ``(N,) + spec.image_shape``.
      labels: int32 class ids, shape ``(N,)``, each in ``[0, spec.num_classes)``.
      spec: the :class:`~leakjax.types.DataSpec`. Its ``mean``/``std`` are per-channel
        statistics in [0, 1] units (``std`` is a standard deviation, not a variance); use
        :meth:`raw_spec` for models that see raw [0, 1] pixels (DLG, iDLG).
      split: which split of the source these images come from (``"all"``, ``"public"``,
        ``"private"`` for embedded sets, a TFDS split string, or ``"files"``).
      indices: int64 positions of these images in the *full* source (the whole embedded set,
        the TFDS split, or the ``paths`` argument), shape ``(N,)``. Record these to say exactly
        which images an experiment used.
      class_names: one name per class, ``len(class_names) == spec.num_classes``.
      sources: optional per-image provenance (a file path, or a photo name and crop box);
        empty when not recorded.
    """

    images: np.ndarray
    labels: np.ndarray
    spec: DataSpec
    split: str
    indices: np.ndarray
    class_names: tuple[str, ...]
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        images = _read_only(np.asarray(self.images, dtype=np.float32))
        labels = _read_only(np.asarray(self.labels, dtype=np.int32))
        indices = _read_only(np.asarray(self.indices, dtype=np.int64))
        if images.ndim != 4 or images.shape[1:] != self.spec.image_shape:
            raise ValueError(
                f"Dataset: images.shape={images.shape}, expected (N,) + spec.image_shape = "
                f"(N,) + {self.spec.image_shape}"
            )
        n = images.shape[0]
        if labels.shape != (n,):
            raise ValueError(f"Dataset: labels.shape={labels.shape}, expected ({n},)")
        if indices.shape != (n,):
            raise ValueError(f"Dataset: indices.shape={indices.shape}, expected ({n},)")
        if n and (labels.min() < 0 or labels.max() >= self.spec.num_classes):
            raise ValueError(
                f"Dataset: labels span [{labels.min()}, {labels.max()}], expected values in "
                f"[0, {self.spec.num_classes}) (spec.num_classes={self.spec.num_classes})"
            )
        class_names = tuple(str(c) for c in self.class_names)
        if len(class_names) != self.spec.num_classes:
            raise ValueError(
                f"Dataset: len(class_names)={len(class_names)}, expected "
                f"spec.num_classes={self.spec.num_classes}"
            )
        sources = tuple(str(s) for s in self.sources)
        if sources and len(sources) != n:
            raise ValueError(f"Dataset: len(sources)={len(sources)}, expected 0 or {n}")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "sources", sources)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.spec.name!r}, split={self.split!r}, n={len(self)}, "
            f"image_shape={self.spec.image_shape}, num_classes={self.spec.num_classes})"
        )

    def raw_spec(self) -> DataSpec:
        """The same spec with ``mean=0`` and ``std=1``: the model sees raw [0, 1] pixels."""
        c = self.spec.channels
        return self.spec.with_stats((0.0,) * c, (1.0,) * c)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
