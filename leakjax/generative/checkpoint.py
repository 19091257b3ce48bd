"""Generator checkpoints: flax msgpack (never pickle) with JSON-able metadata.

A checkpoint is one msgpack file holding ``{"metadata": {...}, "params": state_dict}``, written
with :func:`flax.serialization.msgpack_serialize`. The metadata records the architecture, its
width, ``latent_dim``, ``image_shape``, ``num_classes``, ``conditional``, the output range and
where the generator was trained (dataset and split). Loading first checks the metadata's sizes
(image side, channels, latent size, width, classes, upsampling) against fixed caps and derives
the architecture's parameter shapes *abstractly* (``jax.eval_shape``: nothing is allocated); a
file whose metadata asks for a huge generator, or whose stored parameters do not add up to the
metadata's architecture, is rejected before any array is built. Then every parameter's shape is
checked, and a few samples are generated to check that the output shape and range match what
the metadata declares.

To bring a generator trained elsewhere (another architecture, Haiku, PyTorch weights converted
to arrays...), wrap it with :func:`leakjax.generative.generator_from_fn`; checkpoints of the
built-in ``"dcgan"`` architecture can also be written by hand with :func:`save_generator`'s
format.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from flax import serialization

from leakjax.generative.models import (
    ARCHITECTURES,
    OUTPUT_RANGES,
    Generator,
    _modules,
    build_dcgan,
    check_generator,
)

FORMAT = "leakjax-generator/1"

SIZE_CAPS = {
    "image_side": 4096,
    "channels": 4,
    "latent_dim": 65536,
    "width": 4096,
    "num_classes": 1_000_000,
    "final_upsample": 64,
    "parameters": 500_000_000,
}
"""Largest sizes a checkpoint's metadata may ask for (``parameters``: total entries)."""


def save_generator(path: str, generator: Generator) -> None:
    """Write ``generator`` (params + metadata) to ``path`` as flax msgpack.

    Raises:
      ValueError: the generator is not of a built-in architecture (a custom ``apply_fn``
        cannot be serialized; save its params yourself and wrap them with
        :func:`generator_from_fn` when loading).
    """
    if generator.architecture not in ARCHITECTURES:
        raise ValueError(
            f"save_generator: architecture={generator.architecture!r} cannot be rebuilt from a "
            f"file; expected one of {ARCHITECTURES} (save custom generators' params yourself)"
        )
    meta = generator.metadata()
    params = jax.tree.map(np.asarray, serialization.to_state_dict(generator.params))
    blob = serialization.msgpack_serialize(
        {"metadata": json.dumps(meta, sort_keys=True), "params": params}
    )
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)


def read_metadata(path: str) -> dict:
    """The metadata dict of a generator checkpoint (validated)."""
    return _read(path)[0]


def _read(path: str):
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_generator: no file at path={path!r}")
    with open(path, "rb") as f:
        try:
            raw = serialization.msgpack_restore(f.read())
        except Exception as e:  # noqa: BLE001 - report any decoding failure clearly
            raise ValueError(
                f"load_generator: {path!r} is not a flax msgpack generator checkpoint ({e})"
            ) from None
    if not isinstance(raw, dict) or "metadata" not in raw or "params" not in raw:
        raise ValueError(
            f"load_generator: {path!r} lacks 'metadata'/'params' entries; expected a file "
            "written by leakjax.generative.save_generator"
        )
    meta = raw["metadata"]
    meta = json.loads(meta) if isinstance(meta, (str, bytes)) else dict(meta)
    _validate_metadata(path, meta)
    return meta, raw["params"]


def _validate_metadata(path: str, meta: dict) -> None:
    need = ("architecture", "latent_dim", "image_shape", "num_classes", "conditional")
    missing = [k for k in need if k not in meta]
    if missing:
        raise ValueError(f"load_generator: {path!r} metadata lacks {missing}")
    if meta.get("format", FORMAT) != FORMAT:
        raise ValueError(
            f"load_generator: {path!r} has format={meta.get('format')!r}, expected {FORMAT!r}"
        )
    if meta["architecture"] not in ARCHITECTURES:
        raise ValueError(
            f"load_generator: {path!r} architecture={meta['architecture']!r}, expected one of "
            f"{ARCHITECTURES}"
        )
    if meta.get("output_range", "pm1") not in OUTPUT_RANGES:
        raise ValueError(
            f"load_generator: {path!r} output_range={meta.get('output_range')!r}, expected one "
            f"of {OUTPUT_RANGES}"
        )
    shape = meta["image_shape"]
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or not all(_is_int(v) for v in shape)
        or min(int(v) for v in shape[:2]) < 4
        or int(shape[2]) < 1
    ):
        raise ValueError(f"load_generator: {path!r} image_shape={shape!r}, expected (H, W, C)")
    caps = SIZE_CAPS
    limits = {
        "image_shape height": (shape[0], caps["image_side"]),
        "image_shape width": (shape[1], caps["image_side"]),
        "image_shape channels": (shape[2], caps["channels"]),
        "latent_dim": (meta["latent_dim"], caps["latent_dim"]),
        "width": (meta.get("width", 32), caps["width"]),
        "num_classes": (meta["num_classes"], caps["num_classes"]),
        "final_upsample": (meta.get("final_upsample", 1), caps["final_upsample"]),
    }
    for name, (v, cap) in limits.items():
        if not _is_int(v) or not 0 <= int(v) <= cap:
            raise ValueError(
                f"load_generator: {path!r} metadata {name}={v!r}, expected an integer in "
                f"[0, {cap}] (SIZE_CAPS); refusing to build it"
            )


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _abstract_params(path: str, meta: dict, shape: tuple):
    """The architecture's parameter shapes (``jax.ShapeDtypeStruct``s, nothing allocated)."""
    ncond = max(int(meta["num_classes"]), 1) if bool(meta["conditional"]) else 0
    up = int(meta.get("final_upsample", 1))
    if up < 1 or shape[0] % up or shape[1] % up or shape[0] // up < 4:
        raise ValueError(
            f"load_generator: {path!r} final_upsample={up!r} does not divide image_shape={shape}"
        )
    if int(meta["latent_dim"]) < 1 or int(meta.get("width", 32)) < 1:
        raise ValueError(f"load_generator: {path!r} latent_dim and width must be >= 1")
    module, _ = _modules(shape, int(meta.get("width", 32)), ncond, up)
    z = jax.ShapeDtypeStruct((1, int(meta["latent_dim"])), np.float32)
    y = jax.ShapeDtypeStruct((1,), np.int32)
    abstract = jax.eval_shape(module.init, jax.random.key(0), z, y)["params"]
    total = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(abstract))
    if total > SIZE_CAPS["parameters"]:
        raise ValueError(
            f"load_generator: {path!r} metadata describes a generator of {total} parameters, "
            f"more than SIZE_CAPS['parameters']={SIZE_CAPS['parameters']}; refusing to build it"
        )
    return abstract, total


def _restore_params(template, raw_params):
    """The stored arrays laid into the (abstract) template's tree (its own function so that a
    test can check it is never reached for a checkpoint refused on its metadata)."""
    return serialization.from_state_dict(template, raw_params)


def load_generator(path: str, *, image_shape=None) -> Generator:
    """Load a generator written by :func:`save_generator`, with shape and range validation.

    Args:
      path: the msgpack file.
      image_shape: optional ``(H, W, C)`` the caller needs (e.g. the victim model's input
        shape); a mismatch raises a ValueError naming both shapes.

    Raises:
      FileNotFoundError, ValueError: missing file, not a checkpoint, a parameter whose shape
        differs from the architecture's, or outputs outside the declared range.
    """
    meta, raw_params = _read(path)
    shape = tuple(int(s) for s in meta["image_shape"])
    if image_shape is not None and tuple(int(s) for s in image_shape) != shape:
        raise ValueError(
            f"load_generator: {path!r} generates images of shape {shape}, but "
            f"image_shape={tuple(image_shape)} is needed (the model's input shape)"
        )
    template, total = _abstract_params(path, meta, shape)
    stored = sum(int(np.size(a)) for a in jax.tree.leaves(raw_params))
    if stored != total:
        raise ValueError(
            f"load_generator: {path!r} stores {stored} parameters, but the "
            f"{meta['architecture']!r} architecture of its metadata has {total}: they do not "
            "match"
        )
    try:
        params = _restore_params(template, raw_params)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"load_generator: {path!r} parameters do not match the {meta['architecture']!r} "
            f"architecture of its metadata ({e})"
        ) from None
    flat_t = jax.tree_util.tree_flatten_with_path(template)[0]
    flat_p = jax.tree_util.tree_flatten_with_path(params)[0]
    for (pth, t), (_, p) in zip(flat_t, flat_p):
        if np.shape(t) != np.shape(p):
            name = "/".join(str(getattr(k, "key", k)) for k in pth)
            raise ValueError(
                f"load_generator: {path!r} parameter {name!r} has shape {np.shape(p)}, expected "
                f"{np.shape(t)} for the architecture in its metadata"
            )
    params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    gen = build_dcgan(
        params,
        image_shape=shape,
        latent_dim=int(meta["latent_dim"]),
        width=int(meta.get("width", 32)),
        num_classes=int(meta["num_classes"]),
        conditional=bool(meta["conditional"]),
        final_upsample=int(meta.get("final_upsample", 1)),
        trained_on=meta.get("trained_on", {}),
    )
    check_generator(gen)
    return gen
