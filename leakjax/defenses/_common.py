"""Shared helpers for the defenses: argument validation, keys, per-tensor ranking masks.

Masking convention used by every pruning-type defense (``prune_by_magnitude``, ``topk_sparsify``,
``dual_gradient_pruning``, ``outpost``): **rank based**. For a tensor with ``n`` entries and a
fraction ``p``, exactly ``k = round(p * n)`` entries are selected (round half to even), ranked by
``|g|`` with ties broken by the flat index (a stable sort: among equal magnitudes the entry that
comes first in row-major order ranks lower). This makes "the fraction zeroed" exact even when
many entries are equal (for example exact zeros), unlike the references' percentile rule
``g * 1[|g| >= percentile(|g|, 100 p)]`` (card 9), which keeps every entry tied at the threshold
and therefore zeroes *fewer* than ``p * n`` entries when there are ties. The percentile rule is
available as ``method="percentile"`` for bit-faithful comparisons with the references (NumPy's
linear-interpolation percentile; for distinct magnitudes it zeroes ``ceil(p * (n - 1))``
entries).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

METHODS = ("rank", "percentile")


def is_traced(v: Any) -> bool:
    """True for jax arrays / tracers (skipped by validation so strengths can be vmapped)."""
    return isinstance(v, jax.Array | jax.core.Tracer)


def check_number(
    fn: str,
    name: str,
    value: Any,
    *,
    lo=None,
    hi=None,
    lo_open=False,
    hi_open=False,
    expected: str | None = None,
) -> None:
    """Validate a Python/NumPy scalar in an interval; jax arrays and tracers are skipped."""
    if is_traced(value):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.number):
        raise TypeError(f"{fn}: {name}={value!r} is not a number; expected {expected or 'a float'}")
    v = float(value)
    bad = not np.isfinite(v)
    if lo is not None:
        bad |= v <= lo if lo_open else v < lo
    if hi is not None:
        bad |= v >= hi if hi_open else v > hi
    if bad:
        if expected is None:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            expected = (
                f"a value in {left}{'-inf' if lo is None else lo}, "
                f"{'inf' if hi is None else hi}{right}"
            )
        raise ValueError(f"{fn}: {name}={value!r}, expected {expected}")


def check_fraction(
    fn: str, name: str, value: Any, *, allow_one: bool = False, allow_zero: bool = True
) -> None:
    """A fraction in [0, 1) (or (0, 1] etc.)."""
    lo_s = "[0" if allow_zero else "(0"
    hi_s = "1]" if allow_one else "1)"
    check_number(
        fn,
        name,
        value,
        lo=0.0,
        hi=1.0,
        lo_open=not allow_zero,
        hi_open=not allow_one,
        expected=f"a fraction in {lo_s}, {hi_s}",
    )


def check_method(fn: str, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"{fn}: method={method!r}, expected one of {METHODS}")


def canonicalize_key(fn: str, key: Any) -> jax.Array:
    """A typed PRNG key from a typed key (possibly traced) or an int seed."""
    if isinstance(key, jax.Array | jax.core.Tracer) and jnp.issubdtype(
        key.dtype, jax.dtypes.prng_key
    ):
        return key
    if isinstance(key, numbers.Integral | np.integer) and not isinstance(key, bool):
        return jax.random.key(int(key))
    raise TypeError(
        f"{fn}: key={key!r} is not a typed PRNG key or an int seed; expected "
        "jax.random.key(seed) or an int (legacy uint32 PRNGKey arrays are not accepted)"
    )


def split_like(key: jax.Array, tree: Any) -> Any:
    """One subkey per leaf of ``tree``, as a tree of the same structure."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    return jax.tree.unflatten(treedef, [keys[i] for i in range(len(leaves))])


def num_selected(fraction, n: int) -> jax.Array:
    """``round(fraction * n)`` as an int32 (round half to even), clipped to [0, n]."""
    k = jnp.round(jnp.asarray(fraction, jnp.float32) * n)
    return jnp.clip(k, 0, n).astype(jnp.int32)


def magnitude_ranks(x: jax.Array) -> jax.Array:
    """Rank (0 = smallest) of each entry of ``|x|``, ties broken by flat index; shape of x."""
    a = jnp.abs(x).ravel()
    order = jnp.argsort(a, stable=True)
    ranks = jnp.zeros(a.shape, jnp.int32).at[order].set(jnp.arange(a.size, dtype=jnp.int32))
    return ranks.reshape(x.shape)


def keep_above_mask(x: jax.Array, fraction, method: str = "rank") -> jax.Array:
    """Boolean mask keeping all but the smallest ``fraction`` of ``|x|`` (per tensor).

    ``method="rank"``: exactly ``round(fraction * n)`` entries are dropped (ties by flat index).
    ``method="percentile"``: the references' rule ``|x| >= percentile(|x|, 100 fraction)``.
    """
    if x.size == 0:
        return jnp.ones(x.shape, bool)
    if method == "percentile":
        a = jnp.abs(x)
        thresh = jnp.percentile(
            a.ravel(), 100.0 * jnp.asarray(fraction, jnp.float32), method="linear"
        )
        return a >= thresh
    return magnitude_ranks(x) >= num_selected(fraction, x.size)


def band_mask(x: jax.Array, bottom_fraction, top_fraction, method: str = "rank") -> jax.Array:
    """Mask of the middle band: drop the smallest ``bottom`` and the largest ``top`` fractions."""
    if x.size == 0:
        return jnp.ones(x.shape, bool)
    if method == "percentile":
        a = jnp.abs(x)
        lo = jnp.percentile(a.ravel(), 100.0 * jnp.asarray(bottom_fraction, jnp.float32))
        hi = jnp.percentile(a.ravel(), 100.0 * (1.0 - jnp.asarray(top_fraction, jnp.float32)))
        return (a >= lo) & (a < hi)
    r = magnitude_ranks(x)
    n = x.size
    return (r >= num_selected(bottom_fraction, n)) & (r < n - num_selected(top_fraction, n))


def global_norm(tree: Any) -> jax.Array:
    """``sqrt(sum of squares)`` over every leaf; 0 with a zero (finite) derivative at zero, where
    a plain ``sqrt`` would give a NaN gradient (a defense inside an attack's objective is
    differentiated through)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    sq = sum(jnp.sum(jnp.square(jnp.asarray(x, jnp.float32))) for x in leaves)
    ok = sq > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1.0)), 0.0)


def error_feedback_sparsifier(select_mask, state_cls, error_feedback: bool):
    """An optax transform that sends ``a * select_mask(a)`` per tensor, with error feedback.

    ``a = g + e`` (the update plus the residual ``e`` kept from earlier rounds when
    ``error_feedback``), ``sent = where(mask, a, 0)``, ``e' = a - sent``; so ``sent + e'`` equals
    ``g + e`` exactly. ``state_cls`` is a NamedTuple with one field ``residual``. Shared by
    top-k sparsification and Dual Gradient Pruning, which differ only in the mask.
    """

    def init_fn(params):
        return state_cls(residual=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        del params
        acc = (
            jax.tree.map(lambda g, e: g + e.astype(g.dtype), updates, state.residual)
            if error_feedback
            else updates
        )
        sent = jax.tree.map(lambda a: jnp.where(select_mask(a), a, jnp.zeros_like(a)), acc)
        if error_feedback:
            residual = jax.tree.map(
                lambda a, s, e: (a - s).astype(e.dtype), acc, sent, state.residual
            )
        else:
            residual = state.residual
        return sent, state_cls(residual=residual)

    return optax.GradientTransformation(init_fn, update_fn)
