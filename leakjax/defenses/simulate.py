"""Adaptive simulation: how an attacker imitates a defense it knows about (for GGL, card 4).

An adaptive attacker that knows *which* defense the client used (but not its secret randomness)
applies the same operation to its trial gradient before comparing it with the observation, so
the matching loss compares like with like. Everything the defense's parameters would need and
the observation reveals (norm, sparsity, the zero pattern) is estimated from the observed update.

API (stable; used by the GGL attack)::

    simulate = make_simulation(name, observed_update, model=None, **kw)
    trial_defended = simulate(trial_update)        # pure, jittable, differentiable a.e.

``observed_update`` is the update the server received (same tree as the params). ``simulate``
closes over arrays derived from it, so it may be built inside a jitted/vmapped function (the
observed update may be traced). Names (see :data:`SIMULATIONS`):

* ``"none"`` / ``"noise"`` / ``"gaussian"`` / ``"laplace"``: identity (zero-mean noise cannot be
  imitated; its expectation is the identity).
* ``"clip"``: clip the trial to the observed global norm, GGL's rule
  ``min(1, C / (||g|| + 1e-6))`` with ``C = kw.get("max_norm", ||observed||)``.
* ``"prune"`` / ``"topk"`` / ``"sparsify"``: per tensor, zero the same fraction of smallest
  ``|trial|`` entries as the observation has zeros (``mean(observed == 0)``), or with
  ``copy_mask=True`` multiply by the observation's nonzero pattern.
* ``"dgp"``: per tensor, keep the trial's middle band. The total withheld fraction ``z_l`` is
  estimated from the observed zeros; the split needs ``top_fraction`` (kw, default
  :data:`leakjax.defenses.dgp.DEFAULT_TOP_FRACTION`), the bottom is ``z_l - top_fraction``;
  or ``copy_mask=True``.
* ``"soteria"``: copy the zero pattern of the observed classifier kernel gradient (rows ``d`` of
  the flax ``(D, C)`` kernel that are all zero); needs ``model`` to find the kernel by path.
* ``"quant"``: quantize the trial with ``kind`` (kw: ``"fp16"``, ``"bf16"``, ``"int8"``,
  ``"sign"``, ``"scaled_sign"``); by default with a straight-through derivative
  (``straight_through=True``: the value is quantized, the derivative is the identity's), since
  rounding and sign have zero derivative almost everywhere.

Gradients through ``simulate``: masks are computed from the trial with ``jax.lax.stop_gradient``
(they are piecewise constant), so the attack's derivative flows through the kept entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from leakjax.defenses._common import band_mask, global_norm, keep_above_mask
from leakjax.defenses.clipping import clip_tree
from leakjax.defenses.dgp import DEFAULT_TOP_FRACTION
from leakjax.defenses.quantization import QUANT_KINDS, quantize_array

SIMULATIONS = (
    "none",
    "noise",
    "gaussian",
    "laplace",
    "clip",
    "prune",
    "topk",
    "sparsify",
    "dgp",
    "soteria",
    "quant",
)


def observed_zero_fraction(observed_update: Any) -> Any:
    """Per tensor, the fraction of exact zeros in the observed update (a tree of scalars)."""
    return jax.tree.map(
        lambda g: jnp.mean((jnp.asarray(g) == 0).astype(jnp.float32)), observed_update
    )


def _masked(trial, masks):
    return jax.tree.map(lambda t, m: jnp.where(m, t, jnp.zeros_like(t)), trial, masks)


def make_simulation(
    name: str, observed_update: Any, model: Any = None, **kw
) -> Callable[[Any], Any]:
    """Build ``simulate(trial_update) -> trial_update_defended`` for defense ``name``.

    Args:
      name: one of :data:`SIMULATIONS`.
      observed_update: the update the server received (tree like the params).
      model: a :class:`leakjax.types.Model` (only ``"soteria"`` needs it).
      **kw: ``max_norm`` (clip), ``copy_mask`` (prune/topk/dgp), ``top_fraction`` (dgp),
        ``kind`` and ``straight_through`` (quant).

    Returns:
      A pure function of the trial update (same tree structure as ``observed_update``).

    Raises:
      ValueError: unknown ``name``, unknown/missing keyword arguments, or a model missing for
        ``"soteria"``.
    """
    allowed = {
        "clip": {"max_norm"},
        "prune": {"copy_mask"},
        "topk": {"copy_mask"},
        "sparsify": {"copy_mask"},
        "dgp": {"copy_mask", "top_fraction"},
        "quant": {"kind", "straight_through"},
    }
    if name not in SIMULATIONS:
        raise ValueError(f"make_simulation: name={name!r}, expected one of {SIMULATIONS}")
    extra = set(kw) - allowed.get(name, set())
    if extra:
        raise ValueError(
            f"make_simulation: unexpected keyword(s) {sorted(extra)} for name={name!r}; "
            f"accepted: {sorted(allowed.get(name, set()))}"
        )
    sg = jax.lax.stop_gradient

    if name in ("none", "noise", "gaussian", "laplace"):
        return lambda trial: trial

    if name == "clip":
        max_norm = kw.get("max_norm")
        c = global_norm(observed_update) if max_norm is None else max_norm
        return lambda trial: clip_tree(trial, c)

    if name in ("prune", "topk", "sparsify", "dgp") and kw.get("copy_mask", False):
        nz = jax.tree.map(lambda g: jnp.asarray(g) != 0, observed_update)
        return lambda trial: _masked(trial, nz)

    if name in ("prune", "topk", "sparsify"):
        zf = observed_zero_fraction(observed_update)

        def simulate(trial):
            masks = jax.tree.map(lambda t, z: keep_above_mask(sg(t), z), trial, zf)
            return _masked(trial, masks)

        return simulate

    if name == "dgp":
        zf = observed_zero_fraction(observed_update)
        top = kw.get("top_fraction", DEFAULT_TOP_FRACTION)

        def simulate(trial):
            masks = jax.tree.map(
                lambda t, z: band_mask(sg(t), jnp.maximum(z - top, 0.0), jnp.minimum(top, z)),
                trial,
                zf,
            )
            return _masked(trial, masks)

        return simulate

    if name == "soteria":
        if model is None:
            raise ValueError(
                "make_simulation: name='soteria' needs model= (a leakjax Model) to find the "
                "classifier kernel by path"
            )
        path = tuple(model.classifier_kernel_path)
        kernel = model.classifier_kernel(observed_update)
        row_kept = jnp.any(kernel != 0, axis=-1, keepdims=True)  # (D, 1)

        def simulate(trial):
            flat, treedef = jax.tree_util.tree_flatten_with_path(trial)
            out = []
            for p, leaf in flat:
                keys = tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in p)
                if keys == path:
                    leaf = jnp.where(row_kept, leaf, jnp.zeros_like(leaf))
                out.append(leaf)
            return jax.tree.unflatten(treedef, out)

        return simulate

    # quant
    kind = kw.get("kind")
    if kind not in QUANT_KINDS:
        raise ValueError(
            f"make_simulation: name='quant' needs kind= one of {QUANT_KINDS}, got {kind!r}"
        )
    if kw.get("straight_through", True):
        # value of the quantized trial, derivative of the identity (rounding has zero gradient)
        return lambda trial: jax.tree.map(lambda t: t + sg(quantize_array(t, kind) - t), trial)
    return lambda trial: jax.tree.map(lambda t: quantize_array(t, kind), trial)
