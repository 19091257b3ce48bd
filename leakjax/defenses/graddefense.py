"""GradDefense (Wang, Guo, Xie, Qi, INFOCOM 2022), card 14.

"Protect Privacy from Gradient Leakage Attack in Federated Learning". Three pieces:

1. :func:`graddefense_slices` (needs the model and a root set): per-tensor sensitivity
   ``S_l = mean_b ||d(sum g_l)/dx_b||_F`` of the batch gradient on the root set (by default 5
   images per class in the references), then the flattened update (tensors concatenated in
   **module order**, :attr:`leakjax.Model.layer_order`, as the references iterate PyTorch's
   parameter list; not ``jax.tree`` leaf order, which sorts dict keys) is cut into ``slices_num`` slices of roughly equal total sensitivity: every tensor is
   split into ``n_l / a`` "atoms" (``a`` = gcd of all tensor sizes) of sensitivity
   ``S_l / (n_l / a)`` each, packed greedily in order into slices of up to ``sum(S) /
   slices_num``; the last slice takes the rest. Returns the slice boundaries (a static NumPy
   array of flat offsets).
2. :func:`grad_defense` (tier 1, parameterized by those boundaries): pick ``perturb_slices_num``
   slices uniformly without replacement (a fresh choice per update from the key) and add
   ``N(0, noise_std**2)`` to every entry of those slices.
   :func:`grad_defense_clip` (tier 2, the ``noise_with_clip`` variant): per-example gradients;
   in the chosen slices each example's slice is clipped to L2 norm ``<= noise_std`` (divided by
   ``max(1, ||.|| / noise_std)``), examples are averaged, then the same noise is added.
3. :func:`graddefense_compensate` (server side, optional): random-matrix spectral filtering of a
   received update (Marchenko-Pastur bounds), see its docstring.

Defaults (plato): 10 slices, 5 perturbed, scale 0.01, Q = 6. The references pick slices with
Python's ``random`` seeded once; here the choice comes from the key.
Threat model: the server sees the update with noise on half of its slices (which ones is secret).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.defenses._common import canonicalize_key, check_number
from leakjax.defenses._tier2 import Tier2Defense
from leakjax.defenses.placement import located
from leakjax.fl.client import GradFn, KeyedGradFn, loss_fn
from leakjax.types import Model, leaf_paths


class GradDefenseState(NamedTuple):
    key: jax.Array


def layer_permutation(model: Model | None, tree=None) -> np.ndarray | None:
    """Positions, in ``jax.tree`` leaf order, of the tensors in module order (``None``: no
    model given, keep leaf order)."""
    if model is None:
        return None
    pos = {p: i for i, p in enumerate(leaf_paths(model.params if tree is None else tree))}
    return np.asarray([pos[p] for p in model.layer_order], np.int64)


def layer_sensitivities(model: Model, params, x, y) -> np.ndarray:
    """``S_l = mean_b ||d(sum g_l)/dx_b||_F`` per tensor, in module order."""
    loss = loss_fn(model)

    def sums(xx):
        g = jax.grad(loss)(params, xx, y)
        return jnp.stack([jnp.sum(t) for t in jax.tree.leaves(g)])

    jac = jax.jacrev(sums)(x)  # (L, B, ...)
    nl, b = jac.shape[0], jac.shape[1]
    norms = jnp.sqrt(jnp.sum(jnp.square(jac.reshape(nl, b, -1)), axis=-1))
    return np.asarray(jnp.mean(norms, axis=1), np.float64)[layer_permutation(model)]


def slices_from_sensitivities(sizes, sens, slices_num: int) -> np.ndarray:
    """Greedy equal-sensitivity slicing; returns boundaries ``[0, b_1, ..., total]``."""
    sizes = [int(s) for s in sizes]
    atom = 0
    for s in sizes:
        atom = math.gcd(atom, s)
    per_atom = np.concatenate(
        [np.full(s // atom, float(v) / (s // atom)) for s, v in zip(sizes, sens)]
    )
    target = per_atom.sum() / slices_num
    bounds = [0]
    acc = 0.0
    for i, v in enumerate(per_atom):
        if acc > 0 and acc + v > target and len(bounds) < slices_num:
            bounds.append(i * atom)
            acc = 0.0
        acc += v
    bounds.append(len(per_atom) * atom)
    return np.asarray(bounds, np.int64)


def graddefense_slices(
    model: Model, root_images, root_labels, *, params=None, spec=None, slices_num: int = 10
) -> np.ndarray:
    """GradDefense's slice boundaries from a root set (call outside jit).

    Args:
      model: the shared model.
      root_images: root set, float32 NHWC in [0, 1] (normalized with ``spec`` if given) or
        already in model space when ``spec`` is None.
      root_labels: integer labels ``(N,)``.
      params: the params at which sensitivity is measured (default ``model.params``).
      slices_num: number of slices (default 10).

    Returns:
      int64 array of ``slices_num + 1`` (or fewer, if there are fewer atoms) flat offsets.
    """
    if isinstance(slices_num, bool) or not isinstance(slices_num, int) or slices_num < 1:
        raise ValueError(f"graddefense_slices: slices_num={slices_num!r}, expected an int >= 1")
    params = model.params if params is None else params
    # evaluated eagerly even when called while tracing (wrap() inside a jitted function):
    # the slices are static structure
    with jax.ensure_compile_time_eval():
        x = jnp.asarray(root_images, jnp.float32)
        if spec is not None:
            x = spec.normalize(x)
        sens = layer_sensitivities(model, params, x, jnp.asarray(root_labels))
    sizes = [int(np.prod(t.shape)) for t in model.ordered_leaves(params)]
    return slices_from_sensitivities(sizes, sens, slices_num)


def _slice_ids(bounds: np.ndarray) -> np.ndarray:
    total = int(bounds[-1])
    return np.searchsorted(bounds[1:], np.arange(total), side="right").astype(np.int32)


def _check_bounds(fn, bounds, perturb_slices_num):
    bounds = np.asarray(bounds)
    if bounds.ndim != 1 or bounds.size < 2 or bounds[0] != 0 or np.any(np.diff(bounds) <= 0):
        raise ValueError(
            f"{fn}: slice_bounds must be increasing flat offsets [0, ..., total] "
            "(from graddefense_slices)"
        )
    n = bounds.size - 1
    if (
        isinstance(perturb_slices_num, bool)
        or not isinstance(perturb_slices_num, int)
        or not 0 <= perturb_slices_num <= n
    ):
        raise ValueError(
            f"{fn}: perturb_slices_num={perturb_slices_num!r}, expected an int in [0, {n}]"
        )
    return bounds


def _chosen_mask(key, bounds, perturb_slices_num):
    n = bounds.size - 1
    chosen = jax.random.permutation(key, n)[:perturb_slices_num]
    slice_on = jnp.zeros((n,), bool).at[chosen].set(True)
    return slice_on[jnp.asarray(_slice_ids(bounds))]  # (total,)


def _flatten(tree, perm=None):
    """Concatenate the tensors (in module order when ``perm`` is given)."""
    leaves, treedef = jax.tree.flatten(tree)
    perm = np.arange(len(leaves)) if perm is None else perm
    ordered = [leaves[j] for j in perm]
    flat = jnp.concatenate([jnp.ravel(t) for t in ordered])
    return flat, (treedef, perm, [t.shape for t in ordered], [t.dtype for t in ordered])


def _unflatten(flat, meta):
    treedef, perm, shapes, dtypes = meta
    out, i = [None] * len(perm), 0
    for j, s, d in zip(perm, shapes, dtypes):
        n = int(np.prod(s))
        out[j] = flat[i : i + n].reshape(s).astype(d)
        i += n
    return jax.tree.unflatten(treedef, out)


def grad_defense(
    slice_bounds, key, *, perturb_slices_num: int = 5, noise_std=0.01, model: Model | None = None
) -> optax.GradientTransformation:
    """GradDefense's noise on a random subset of equal-sensitivity slices (tier 1).

    Args:
      slice_bounds: from :func:`graddefense_slices` (static).
      key: typed PRNG key or int seed (slice choice and noise).
      perturb_slices_num: slices perturbed per update (default 5 of 10).
      noise_std: std of the Gaussian noise on the chosen slices (plato's "scale", 0.01). May be
        traced.
      model: the model whose :attr:`~leakjax.Model.layer_order` orders the tensors before they
        are concatenated and sliced (as :func:`graddefense_slices` does); ``None`` keeps
        ``jax.tree`` leaf order (only consistent with slices computed in that order).

    Default placement ``"step"``: plato applies GradDefense to every local step's gradient.
    """
    fn = "grad_defense"
    bounds = _check_bounds(fn, slice_bounds, perturb_slices_num)
    key = canonicalize_key(fn, key)
    check_number(fn, "noise_std", noise_std, lo=0.0, expected="a std >= 0")

    def init_fn(params):
        del params
        return GradDefenseState(key=key)

    perm = layer_permutation(model)

    def update_fn(updates, state, params=None):
        del params
        flat, meta = _flatten(updates, perm)
        if flat.size != bounds[-1]:
            raise ValueError(
                f"{fn}: the update has {flat.size} entries but slice_bounds cover "
                f"{int(bounds[-1])}; compute the slices for this model"
            )
        key_next, k_sel, k_noise = jax.random.split(state.key, 3)
        mask = _chosen_mask(k_sel, bounds, perturb_slices_num)
        noise = jax.random.normal(k_noise, flat.shape, jnp.float32) * noise_std
        out = flat.astype(jnp.float32) + jnp.where(mask, noise, 0.0)
        return _unflatten(out, meta), GradDefenseState(key=key_next)

    return located(optax.GradientTransformation(init_fn, update_fn), "step")


class GradDefenseClip(Tier2Defense):
    """See :func:`grad_defense_clip`."""

    name = "grad_defense_clip"

    def __init__(self, slice_bounds, perturb_slices_num, noise_std, root=None):
        self.slice_bounds = slice_bounds
        self.perturb_slices_num = perturb_slices_num
        self.noise_std = noise_std
        self.root = root
        self.description = (
            f"grad_defense_clip(slices={'auto' if slice_bounds is None else len(slice_bounds) - 1}"
            f", perturbed={perturb_slices_num}, noise_std={noise_std})"
        )

    def bounds_for(self, model: Model) -> np.ndarray:
        if self.slice_bounds is not None:
            return np.asarray(self.slice_bounds)
        x, y, slices_num = self.root
        return graddefense_slices(model, x, y, slices_num=slices_num)

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        bounds = _check_bounds(self.name, self.bounds_for(model), self.perturb_slices_num)
        ids = jnp.asarray(_slice_ids(bounds))
        n = bounds.size - 1
        s = self.noise_std
        perm = layer_permutation(model)

        def keyed(key, params, x, y):
            k_sel, k_noise = jax.random.split(key)
            mask = _chosen_mask(k_sel, bounds, self.perturb_slices_num)

            def one(xi, yi):
                flat, _ = _flatten(grad_fn(params, xi[None], yi[None]), perm)
                sq = jax.ops.segment_sum(jnp.square(flat), ids, num_segments=n)
                coef = 1.0 / jnp.maximum(1.0, jnp.sqrt(sq) / s)
                return flat * jnp.where(mask, coef[ids], 1.0)

            per = jax.vmap(one)(x, y)
            mean = jnp.mean(per, axis=0)
            noise = jax.random.normal(k_noise, mean.shape, jnp.float32) * s
            out = mean + jnp.where(mask, noise, 0.0)
            _, meta = _flatten(params, perm)
            return _unflatten(out, meta)

        return keyed


def grad_defense_clip(
    slice_bounds=None, *, perturb_slices_num: int = 5, noise_std=0.01, root=None
) -> GradDefenseClip:
    """GradDefense's ``noise_with_clip`` variant (tier 2: needs per-example gradients).

    Args:
      slice_bounds: from :func:`graddefense_slices`, or None to compute them in ``wrap`` from
        ``root = (images_model_space, labels, slices_num)``.
      perturb_slices_num: slices clipped and perturbed (default 5).
      noise_std: both the per-example slice clip norm and the noise std (plato's "scale").
    """
    check_number(
        "grad_defense_clip", "noise_std", noise_std, lo=0.0, lo_open=True, expected="a scale > 0"
    )
    if slice_bounds is None and root is None:
        raise ValueError(
            "grad_defense_clip: pass slice_bounds= (from graddefense_slices) or root=(images, "
            "labels, slices_num)"
        )
    return GradDefenseClip(slice_bounds, perturb_slices_num, noise_std, root)


class GradDefenseAuto(Tier2Defense):
    """GradDefense (noise variant) whose slices are computed in ``wrap`` from a root set.

    Used by the spec parser (``graddefense``), where the model is only known at ``wrap`` time.
    If no root set is given, a synthetic one is used: ``root_per_class`` uniform-noise images per
    class (seeded), labels cycling over the classes, in the model's input space. This departs from
    the paper (5 real training images per class) and is documented as such.
    """

    name = "grad_defense"

    def __init__(
        self,
        key,
        *,
        slices_num=10,
        perturb_slices_num=5,
        noise_std=0.01,
        root=None,
        root_per_class=5,
        compensate: bool = False,
        q: float = 6.0,
    ):
        self.key = canonicalize_key("grad_defense", key)
        self.compensate = bool(compensate)
        self.q = q
        self.slices_num = slices_num
        self.perturb_slices_num = perturb_slices_num
        self.noise_std = noise_std
        self.root = root
        self.root_per_class = root_per_class
        self._cache = {}
        self.description = (
            f"grad_defense(slices={slices_num}, perturbed={perturb_slices_num}, "
            f"noise_std={noise_std}, root={'given' if root is not None else 'synthetic'}"
            + (f", compensate=Q{q}" if compensate else "")
            + ")"
        )

    def server_compensate(self, model: Model, pseudo_gradient, num_steps: int = 1):
        """The server's de-noising of one received update (card 14), when ``compensate``.

        Applied by :func:`leakjax.fl.fedavg` with ``server_compensation=True`` to each client's
        pseudo-gradient ``u = -delta / (lr K)``. With noise of std ``s`` on each of ``K`` local
        steps, ``u``'s noise has std ``s / sqrt(K)`` on the perturbed slices, the scale used for
        the Marchenko-Pastur bounds (exact for ``K = 1``).
        """
        if not self.compensate:
            return pseudo_gradient
        std = self.noise_std / math.sqrt(max(int(num_steps), 1))
        return graddefense_compensate(pseudo_gradient, noise_std=std, q=self.q, model=model)

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        cached = self._cache.get(id(model))
        if cached is not None and cached[0] is model:
            bounds = cached[1]
        else:
            with jax.ensure_compile_time_eval():
                if self.root is None:
                    c = min(model.num_classes, 10)
                    n = c * self.root_per_class
                    x = jax.random.uniform(jax.random.key(0), (n, *model.input_shape))
                    y = jnp.arange(n) % c
                else:
                    x, y = self.root
            bounds = graddefense_slices(model, x, y, slices_num=self.slices_num)
            self._cache[id(model)] = (model, bounds)

        def keyed(key, params, xb, yb):
            g = grad_fn(params, xb, yb)
            tx = grad_defense(
                bounds,
                key,
                perturb_slices_num=self.perturb_slices_num,
                noise_std=self.noise_std,
                model=model,
            )
            out, _ = tx.update(g, tx.init(params), params)
            return out

        return keyed


def graddefense_compensate(update, *, noise_std, q: float = 6.0, model: Model | None = None):
    """Server-side compensation: keep the spectral components outside the noise bulk.

    The flattened update (``d`` entries) is reshaped to ``V x W`` with ``V`` the smallest
    divisor of ``d`` with ``V >= sqrt(q d)``; the column covariance's eigenvalues inside the
    Marchenko-Pastur bulk ``[(1 - 1/sqrt(r))^2, (1 + 1/sqrt(r))^2] * noise_std^2`` with
    ``r = V / W`` are treated as noise, and the update is projected onto the remaining
    eigenvectors. Shapes are static, values may be traced. ``model`` orders the tensors (module
    order) before flattening, as the reference flattens PyTorch's parameter list.
    """
    flat, meta = _flatten(update, layer_permutation(model))
    d = int(flat.size)
    lo = int(math.ceil(math.sqrt(q * d)))
    v = next((c for c in range(max(lo, 1), d + 1) if d % c == 0), d)
    w = d // v
    m = flat.reshape(v, w).astype(jnp.float32)
    cov = m.T @ m / v  # (W, W)
    evals, evecs = jnp.linalg.eigh(cov)
    r = v / w
    lam_lo = (1 - 1 / math.sqrt(r)) ** 2 * jnp.square(noise_std)
    lam_hi = (1 + 1 / math.sqrt(r)) ** 2 * jnp.square(noise_std)
    keep = (evals < lam_lo) | (evals > lam_hi)
    proj = (evecs * keep) @ evecs.T
    return _unflatten((m @ proj).ravel(), meta)
