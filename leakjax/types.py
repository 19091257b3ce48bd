"""Core types shared by the client simulation, defenses, attacks, metrics and sweeps.

Conventions (see README, "Conventions"):

* Images at every public boundary are float32 NHWC in **[0, 1]**. A model's *input space* is
  ``(x - mean) / std`` with the :class:`DataSpec`'s per-channel statistics; attacks optimize in
  that space (as the references do) and map back to [0, 1] before anything is reported.
* Labels are integer class ids, shape ``(B,)``; soft labels are ``(B, C)`` probabilities.
* PRNG keys are typed keys from ``jax.random.key``; the key is always the first argument.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PRNGKey = jax.Array
Params = Any
Grads = Any
Array = jax.Array
ApplyFn = Callable[..., Array]
PyTreePath = tuple[str, ...]


# --------------------------------------------------------------------------------------------
# DataSpec
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a dataset looks like and how the model normalizes it.

    Attributes:
      name: dataset name (for records).
      image_shape: ``(H, W, C)``.
      num_classes: number of label classes in the dataset.
      mean: per-channel mean used for normalization, in [0, 1] units (length C).
      std: per-channel **standard deviation** used for normalization (length C).
    The model input is ``(x01 - mean) / std``. ``mean=0, std=1`` means the model sees raw
    [0, 1] pixels (DLG/iDLG); ``mean=std=0.5`` is GGL's [-1, 1].
    """

    name: str
    image_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self):
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) != 3 or min(shape) <= 0:
            raise ValueError(
                f"DataSpec: image_shape={self.image_shape!r} must be (H, W, C) with positive sizes"
            )
        object.__setattr__(self, "image_shape", shape)
        c = shape[-1]
        mean = tuple(float(m) for m in np.broadcast_to(np.asarray(self.mean, float), (c,)))
        std = tuple(float(s) for s in np.broadcast_to(np.asarray(self.std, float), (c,)))
        if min(std) <= 0:
            raise ValueError(f"DataSpec: std={self.std!r} must be positive in every channel")
        if self.num_classes < 1:
            raise ValueError(f"DataSpec: num_classes={self.num_classes!r} must be >= 1")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def channels(self) -> int:
        return self.image_shape[-1]

    def normalize(self, x01: Array) -> Array:
        """[0, 1] images -> model input space."""
        return (x01 - jnp.asarray(self.mean, x01.dtype)) / jnp.asarray(self.std, x01.dtype)

    def denormalize(self, x: Array) -> Array:
        """Model input space -> [0, 1] units (not clipped)."""
        return x * jnp.asarray(self.std, x.dtype) + jnp.asarray(self.mean, x.dtype)

    def box(self) -> tuple[Array, Array]:
        """Per-channel bounds of valid images in model input space: ``((0-m)/s, (1-m)/s)``."""
        m = jnp.asarray(self.mean, jnp.float32)
        s = jnp.asarray(self.std, jnp.float32)
        return (0.0 - m) / s, (1.0 - m) / s

    def with_stats(self, mean, std) -> DataSpec:
        return dataclasses.replace(self, mean=tuple(mean), std=tuple(std))


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A classifier reduced to a pure function, plus what attacks need to know about it.

    Attributes:
      apply_fn: pure ``apply_fn(params, x) -> logits`` with ``x`` float32 NHWC in the model's
        input space (normalized, see :class:`DataSpec`) and logits ``(B, num_classes)``.
        Non-trainable state (BatchNorm running statistics) is closed over by the adapter; the
        BatchNorm mode (``bn_mode``) is fixed when the Model is built.
      params: the trainable parameters (a pytree) used to initialise clients / servers.
      input_shape: ``(H, W, C)`` the model accepts.
      num_classes: number of logits.
      classifier_kernel_path: path (tuple of dict keys) of the last linear layer's kernel in
        ``params``. Flax stores it as ``(in, out) = (D, C)``, the transpose of PyTorch's.
      classifier_bias_path: path of that layer's bias, or ``None`` if it has none.
      features_fn: optional pure ``features_fn(params, x) -> (B, D)``, the representation that
        enters the classifier layer (Soteria, analytic attacks).
      bn_mode: ``"none"`` (no BatchNorm), ``"eval"`` (running statistics) or ``"train"``
        (batch statistics).
      name: a short name for records.
      layer_order: every parameter leaf's path in **module order** (PyTorch's parameter-list
        order: the order the layers run, kernel before bias within a layer). Label rules, IG's
        layer weights, GradDefense's slices and the analytic attack read layer order from here,
        never from a params dict (``jax.tree`` functions sort dict keys, so ``conv10`` or
        ``bn0`` would come before ``conv0``'s successors). The Linen and NNX adapters record
        it from a traced forward pass; ``None`` (a hand-built Model) falls back to the params'
        dict insertion order, which is module order only if nothing has re-sorted the dict.
    """

    apply_fn: ApplyFn
    params: Params
    input_shape: tuple[int, int, int]
    num_classes: int
    classifier_kernel_path: PyTreePath
    classifier_bias_path: PyTreePath | None = None
    features_fn: Callable[[Params, Array], Array] | None = None
    bn_mode: str = "none"
    name: str = "model"
    extra: dict = dataclasses.field(default_factory=dict)
    layer_order: tuple[PyTreePath, ...] | None = None

    def __post_init__(self):
        if self.bn_mode not in ("none", "eval", "train"):
            raise ValueError(
                f"Model: bn_mode={self.bn_mode!r}, expected one of 'none', 'eval', 'train'"
            )
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        get_path(self.params, self.classifier_kernel_path, what="classifier_kernel_path")
        if self.classifier_bias_path is not None:
            get_path(self.params, self.classifier_bias_path, what="classifier_bias_path")
        order = insertion_order(self.params) if self.layer_order is None else self.layer_order
        order = tuple(tuple(p) for p in order)
        have = {tuple(p) for p in leaf_paths(self.params)}
        if len(order) != len(have) or set(order) != have:
            missing = sorted(have - set(order))[:3]
            extra = sorted(set(order) - have)[:3]
            raise ValueError(
                f"Model: layer_order must list every parameter path exactly once (missing "
                f"{missing}, unknown {extra}, {len(order)} given for {len(have)} leaves)"
            )
        object.__setattr__(self, "layer_order", order)

    def apply(self, params: Params, x: Array) -> Array:
        return self.apply_fn(params, x)

    def classifier_kernel(self, tree: Params) -> Array:
        """The classifier kernel of ``tree`` (params or a gradient), as ``(D, C)``."""
        return get_path(tree, self.classifier_kernel_path, what="classifier_kernel_path")

    def classifier_bias(self, tree: Params) -> Array | None:
        if self.classifier_bias_path is None:
            return None
        return get_path(tree, self.classifier_bias_path, what="classifier_bias_path")

    def replace(self, **changes) -> Model:
        return dataclasses.replace(self, **changes)

    def ordered_leaves(self, tree: Params) -> list:
        """The leaves of ``tree`` (params or a gradient) in module order (:attr:`layer_order`)."""
        return [get_path(tree, p, what="layer_order") for p in self.layer_order]

    def layer_index(self) -> dict[PyTreePath, int]:
        """``{path: position in module order}``."""
        return {p: i for i, p in enumerate(self.layer_order)}


def leaf_paths(tree: Any) -> list[PyTreePath]:
    """Key paths (tuples of dict keys) of every leaf, in ``jax.tree`` flatten order."""
    return [
        tuple(_key_str(k) for k in path)
        for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
    ]


_FIRST_IN_LAYER = {"kernel": 0, "scale": 0, "embedding": 0, "bias": 1}


def insertion_order(params: Any) -> list[PyTreePath]:
    """Leaf paths in dict insertion order, weights before biases inside one layer."""
    from collections.abc import Mapping

    out: list[PyTreePath] = []

    def walk(node, path):
        if isinstance(node, Mapping):
            keys = list(node.keys())
            keys.sort(
                key=lambda k: _FIRST_IN_LAYER.get(k, 0) if not isinstance(node[k], Mapping) else 0
            )
            for k in keys:
                walk(node[k], (*path, k))
        else:
            out.append(path)

    walk(params, ())
    return out


def get_path(tree: Any, path: Sequence[Any], *, what: str = "path") -> Any:
    """Walk ``tree`` (nested dicts / mappings) along ``path``; clear error on a missing key."""
    node = tree
    for i, k in enumerate(path):
        try:
            node = node[k]
        except (KeyError, TypeError, IndexError):
            have = list(node.keys()) if hasattr(node, "keys") else type(node).__name__
            raise KeyError(
                f"{what}={tuple(path)!r}: no entry {k!r} at depth {i}; available: {have}"
            ) from None
    return node


def tree_paths(tree: Any) -> list[str]:
    """'/'-joined key paths of every leaf, in flatten order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return ["/".join(_key_str(k) for k in path) for path, _ in leaves]


def _key_str(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


# --------------------------------------------------------------------------------------------
# Observation: what the server sees
# --------------------------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Observation:
    """What the server sees of one client round (a registered pytree, stackable over victims).

    Data fields (traced; stack them with :func:`stack_observations` to vmap over victims):
      update: the shared tree, same structure as ``params``. For ``kind="gradient"`` it is the
        (possibly defended) batch-mean gradient; for ``kind="delta"`` the weight change
        ``theta_after - theta_before`` of local training.
      params: the server's parameters the client started from.
      labels: the client's labels ``(B,)`` when the threat model reveals them, else ``None``.

    Static fields (part of the tree structure; must match to stack):
      batch_size: number of examples behind the update (B, or n for multi-step).
      kind: ``"gradient"`` or ``"delta"``.
      local_steps: number of local optimizer steps (1 for a single gradient).
      recipe: a hashable description of the local training (see ``leakjax.fl.LocalRecipe``)
        or ``None`` for a single gradient.
      defense: a short text describing the defense applied, or ``""``.
    """

    update: Grads
    params: Params
    labels: Array | None = None
    batch_size: int = dataclasses.field(default=1, metadata=dict(static=True))
    kind: str = dataclasses.field(default="gradient", metadata=dict(static=True))
    local_steps: int = dataclasses.field(default=1, metadata=dict(static=True))
    recipe: Any = dataclasses.field(default=None, metadata=dict(static=True))
    defense: str = dataclasses.field(default="", metadata=dict(static=True))

    def replace(self, **changes) -> Observation:
        return dataclasses.replace(self, **changes)

    def without_labels(self) -> Observation:
        return dataclasses.replace(self, labels=None)


def stack_observations(observations: Sequence[Observation]) -> Observation:
    """Stack same-structure observations along a new leading (victim) axis."""
    if not observations:
        raise ValueError("stack_observations: observations is empty, expected at least one")
    s0 = jax.tree.structure(observations[0])
    for i, o in enumerate(observations[1:], 1):
        if jax.tree.structure(o) != s0:
            raise ValueError(
                f"stack_observations: observations[{i}] has a different structure or static "
                "metadata than observations[0]; only same-shape observations can be stacked"
            )
    return jax.tree.map(lambda *xs: jnp.stack(xs), *observations)


def check_update_matches_params(update: Grads, params: Params, *, name: str = "update") -> None:
    """Raise a ValueError naming the first mismatching path if ``update`` and ``params`` differ."""
    pu = jax.tree_util.tree_flatten_with_path(update)[0]
    pp = jax.tree_util.tree_flatten_with_path(params)[0]
    if jax.tree.structure(update) != jax.tree.structure(params):
        up = {"/".join(_key_str(k) for k in p) for p, _ in pu}
        pa = {"/".join(_key_str(k) for k in p) for p, _ in pp}
        missing = sorted(pa - up)[:3]
        extra = sorted(up - pa)[:3]
        raise ValueError(
            f"{name}: tree structure does not match the model's params "
            f"(missing paths {missing}, unexpected paths {extra}); expected the params' structure"
        )
    for (path, a), (_, b) in zip(pu, pp):
        if jnp.shape(a) != jnp.shape(b):
            p = "/".join(_key_str(k) for k in path)
            raise ValueError(
                f"{name}: leaf {p!r} has shape {jnp.shape(a)}, expected {jnp.shape(b)} "
                "(the params' shape)"
            )


# --------------------------------------------------------------------------------------------
# ThreatModel
# --------------------------------------------------------------------------------------------

LABEL_MODES = ("given", "infer", "optimize")


@dataclasses.dataclass(frozen=True)
class ThreatModel:
    """What the attacker knows beyond the architecture and the server's params.

    Attributes:
      labels: ``"given"`` (the Observation carries the true labels), ``"infer"`` (recovered
        from the update by ``label_rule``), or ``"optimize"`` (jointly optimized, DLG).
      label_rule: name of the rule in :mod:`leakjax.attacks.labels` used when inferring.
      batch_size_known: whether the attacker knows B (all current attacks assume it does).
      recipe: the local-training recipe the attacker *assumes* (may differ from the client's);
        ``None`` means "the one recorded in the Observation".
      bn_mode: BatchNorm mode the attacker simulates (``"none"``, ``"eval"``, ``"train"``).
      bn_stats_known: whether BatchNorm running statistics are known (for BN priors).
      defense: the defense the attacker knows about (for adaptive attacks), or ``None``.
    """

    labels: str = "infer"
    label_rule: str = "idlg"
    batch_size_known: bool = True
    recipe: Any = None
    bn_mode: str = "none"
    bn_stats_known: bool = False
    defense: Any = None

    def __post_init__(self):
        if self.labels not in LABEL_MODES:
            raise ValueError(f"ThreatModel: labels={self.labels!r}, expected one of {LABEL_MODES}")
        if self.bn_mode not in ("none", "eval", "train"):
            raise ValueError(
                f"ThreatModel: bn_mode={self.bn_mode!r}, expected one of 'none', 'eval', 'train'"
            )


# --------------------------------------------------------------------------------------------
# AttackResult
# --------------------------------------------------------------------------------------------


class Status(enum.IntEnum):
    """Outcome of one attack run (stored as int32 so it survives vmap)."""

    CONVERGED = 0  # matching loss fell below the attack's tolerance
    MAX_STEPS = 1  # ran all steps without reaching the tolerance
    DIVERGED = 2  # the loss or the reconstruction became non-finite


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class AttackResult:
    """The outcome of an attack (a pytree; batch axes lead when vmapped).

    Attributes:
      inputs: reconstruction as float32 NHWC images in **[0, 1]** (de-normalized and clipped).
        Text attacks (an attack with a ``decode``) return other things here: TAG and DLG on
        text give int32 token ids ``(B, T)``; token-set recovery gives an int32 ``(V,)`` mask
        (1 for each token recovered).
      labels: recovered integer labels ``(B,)``. Text: a language model's recovered next
        tokens ``(B, T - 1)`` (a classifier's classes ``(B,)``); token-set recovery gives an
        int32 ``(num_classes,)`` mask of the labels read from the head bias.
      loss: final matching loss of the returned reconstruction (what the attacker can see).
      loss_trace: matching loss at the start of every step, ``(steps,)``.
      status: :class:`Status` as int32.
      restart: index of the restart that was kept (chosen by matching loss, never ground truth).
      raw_inputs: reconstruction in the model's input space, unclipped (text: the optimized
        token embeddings ``(B, T, D)``; token-set recovery: the per-token scores ``(V,)``).
    """

    inputs: Array
    labels: Array
    loss: Array
    loss_trace: Array
    status: Array
    restart: Array
    raw_inputs: Array


def status_name(code: int) -> str:
    return Status(int(code)).name.lower()
