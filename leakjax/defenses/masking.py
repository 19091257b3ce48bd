"""Apply a defense to part of the model: ``optax.masked`` with a checked mask.

``optax.masked`` / ``optax.partition`` work directly with every tier-1 defense here. This thin
wrapper adds what they lack: a clear ``ValueError`` naming ``mask`` when the mask tree does not
match the params tree, and path-based masks (``mask_by_path``), never list positions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import optax

from leakjax.defenses.placement import located
from leakjax.types import _key_str


def mask_by_path(params: Any, pattern: str) -> Any:
    """A bool tree: True where the '/'-joined leaf path matches the regex ``pattern``."""
    rx = re.compile(pattern)
    return jax.tree_util.tree_map_with_path(
        lambda p, _: bool(rx.search("/".join(_key_str(k) for k in p))), params
    )


def _check_mask(mask_tree, params):
    sm, sp = jax.tree.structure(mask_tree), jax.tree.structure(params)
    if sm != sp:
        raise ValueError(
            f"masked: mask tree structure {sm} does not match the params tree structure {sp}; "
            "expected a tree of bools with exactly the params' structure (see mask_by_path)"
        )
    bad = [m for m in jax.tree.leaves(mask_tree) if not isinstance(m, bool)]
    if bad:
        raise ValueError(f"masked: mask leaves must be Python bools, got {bad[0]!r}")


def masked(
    inner: optax.GradientTransformation, mask: Any | Callable[[Any], Any]
) -> optax.GradientTransformation:
    """``optax.masked(inner, mask)`` that validates ``mask`` against the params at ``init``.

    The result keeps ``inner``'s default placement (:mod:`leakjax.defenses.placement`).
    """
    if not isinstance(inner, optax.GradientTransformation):
        raise TypeError(
            f"masked: inner={inner!r} is not an optax.GradientTransformation (tier-2 defenses "
            "cannot be masked; they act on the gradient function)"
        )
    tx = optax.masked(inner, mask)

    def init_fn(params):
        _check_mask(mask(params) if callable(mask) else mask, params)
        return tx.init(params)

    out = optax.GradientTransformationExtraArgs(init_fn, tx.update)
    placement = getattr(inner, "placement", None)
    return located(out, placement) if placement is not None else out
