"""Parse a short text into a defense chain (for the CLI and sweeps).

Syntax: comma-separated items, applied left to right; ``none`` or an empty string means no
defense. Numbers are Python floats (``1e-3``); ``a:b`` separates two values.

========================  =========================================================
item                      defense
========================  =========================================================
``noise_std=S``           :func:`gaussian_noise` with std S >= 0
``noise_var=V``           :func:`gaussian_noise` with std sqrt(V) (DLG's variance axis)
``laplace=B``             :func:`laplace_noise` with scale B >= 0
``laplace_var=V``         :func:`laplace_noise` with variance V (scale sqrt(V/2))
``clip=C``                :func:`clip_global_norm`, C > 0
``prune=P``               :func:`prune_by_magnitude`, fraction zeroed per tensor in [0, 1)
``topk=K``                :func:`topk_sparsify`, fraction sent per tensor in (0, 1], with EF
``dgp[=T:B]``             :func:`dual_gradient_pruning`, top / bottom fractions (0.05:0.8)
``quant=KIND``            :func:`quantize`, KIND in fp16, bf16, int8, sign, scaled_sign
``outpost[=BETA]``        :func:`outpost` (beta default 0.125)
``graddefense[=S[:N:M]]`` GradDefense noise std S (0.01), N perturbed (5) of M slices (10);
                          slices from a synthetic root set (see ``GradDefenseAuto``)
``graddefense_comp[=S[:N:M[:Q]]]`` the same, plus the server's compensation (Q = 6) applied
                          by the FedAvg server step (``fedavg(server_compensation=True)``)
``soteria=P``             :func:`soteria`, percent of features pruned in [0, 100) (tier 2)
``dpsgd=C:SIGMA``         :func:`dp_sgd`, per-example clip C and noise multiplier (tier 2)
``mixup=K[:ALPHA]``       :func:`mixup` (tier 2)
``instahide=K``           :func:`instahide` (tier 2)
========================  =========================================================

At most one tier-2 item is allowed, and it must come first; tier-1 items after it are applied
to its output (e.g. ``dpsgd=1:1.1,quant=fp16``).
"""

from __future__ import annotations

from typing import Any

import jax

from leakjax.defenses._common import canonicalize_key
from leakjax.defenses._tier2 import Tier2ThenTier1
from leakjax.defenses.clipping import clip_global_norm
from leakjax.defenses.comm import WIRE_FORMATS, WireFormat
from leakjax.defenses.dgp import (
    DEFAULT_BOTTOM_FRACTION,
    DEFAULT_TOP_FRACTION,
    dual_gradient_pruning,
)
from leakjax.defenses.dpsgd import dp_sgd
from leakjax.defenses.graddefense import GradDefenseAuto
from leakjax.defenses.mixing import instahide, mixup
from leakjax.defenses.noise import (
    gaussian_noise,
    laplace_noise,
    laplace_scale_from_variance,
    std_from_variance,
)
from leakjax.defenses.outpost import outpost
from leakjax.defenses.placement import chain
from leakjax.defenses.pruning import prune_by_magnitude, topk_sparsify
from leakjax.defenses.quantization import QUANT_KINDS, quantize
from leakjax.defenses.soteria import soteria

SYNTAX = {
    "noise_std": "noise_std=STD (float >= 0)",
    "noise_var": "noise_var=VARIANCE (float >= 0)",
    "laplace": "laplace=SCALE (float >= 0)",
    "laplace_var": "laplace_var=VARIANCE (float >= 0)",
    "clip": "clip=MAX_NORM (float > 0)",
    "prune": "prune=FRACTION_ZEROED (float in [0, 1))",
    "topk": "topk=FRACTION_SENT (float in (0, 1])",
    "dgp": "dgp or dgp=TOP:BOTTOM (fractions, sum < 1)",
    "quant": f"quant=KIND (one of {', '.join(QUANT_KINDS)})",
    "outpost": "outpost or outpost=BETA (float >= 0)",
    "graddefense": "graddefense or graddefense=STD[:PERTURBED:SLICES]",
    "graddefense_comp": "graddefense_comp or graddefense_comp=STD[:PERTURBED:SLICES[:Q]]",
    "soteria": "soteria=PERCENT (float in [0, 100))",
    "dpsgd": "dpsgd=CLIP:NOISE_MULTIPLIER",
    "mixup": "mixup=K[:ALPHA]",
    "instahide": "instahide=K",
}
TIER2 = ("soteria", "dpsgd", "mixup", "instahide", "graddefense", "graddefense_comp")


def _syntax_help() -> str:
    return "; ".join(SYNTAX.values())


def _floats(name: str, value: str | None, n_min: int, n_max: int, item: str) -> list[float]:
    if value is None or value == "":
        if n_min == 0:
            return []
        raise ValueError(f"parse_defense: item {item!r} needs a value; syntax: {SYNTAX[name]}")
    parts = value.split(":")
    if not n_min <= len(parts) <= n_max:
        raise ValueError(
            f"parse_defense: item {item!r} has {len(parts)} value(s); syntax: {SYNTAX[name]}"
        )
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"parse_defense: item {item!r}: {value!r} is not a number; syntax: {SYNTAX[name]}"
        ) from None


def _int(name, v, item):
    if v != int(v) or v < 1:
        raise ValueError(
            f"parse_defense: item {item!r}: expected a positive integer; syntax: {SYNTAX[name]}"
        )
    return int(v)


# value positions that stay Python numbers (counts, and GradDefense's Q, which sizes arrays);
# every other number of an item may be a traced scalar (a sweep's batch axis)
STATIC_POSITIONS = {
    "graddefense": (1, 2),
    "graddefense_comp": (1, 2, 3),
    "mixup": (0,),
    "instahide": (0,),
}


def _build(name: str, value: str | None, key, item: str, numbers=None):
    """Build one item; ``numbers`` (from :func:`defense_numbers`) replaces its non-static
    parsed values, which may then be traced."""

    def f(lo, hi):
        parsed = _floats(name, value, lo, hi, item)
        if numbers is None:
            return parsed
        static = STATIC_POSITIONS.get(name, ())
        it = iter(numbers)
        return [p if i in static else next(it) for i, p in enumerate(parsed)]

    if name == "noise_std":
        return gaussian_noise(f(1, 1)[0], key)
    if name == "noise_var":
        return gaussian_noise(std_from_variance(f(1, 1)[0]), key)
    if name == "laplace":
        return laplace_noise(f(1, 1)[0], key)
    if name == "laplace_var":
        return laplace_noise(laplace_scale_from_variance(f(1, 1)[0]), key)
    if name == "clip":
        return clip_global_norm(f(1, 1)[0])
    if name == "prune":
        return prune_by_magnitude(f(1, 1)[0])
    if name == "topk":
        return topk_sparsify(f(1, 1)[0])
    if name == "dgp":
        v = f(0, 2)
        if len(v) == 1:
            raise ValueError(f"parse_defense: item {item!r}; syntax: {SYNTAX[name]}")
        top, bot = v if v else (DEFAULT_TOP_FRACTION, DEFAULT_BOTTOM_FRACTION)
        return dual_gradient_pruning(top, bot)
    if name == "quant":
        if value not in QUANT_KINDS:
            raise ValueError(
                f"parse_defense: item {item!r}: unknown kind {value!r}; syntax: {SYNTAX[name]}"
            )
        return quantize(value)
    if name == "outpost":
        v = f(0, 1)
        return outpost(key, beta=v[0]) if v else outpost(key)
    if name in ("graddefense", "graddefense_comp"):
        v = f(0, 4 if name == "graddefense_comp" else 3)
        std = v[0] if v else 0.01
        pert = _int(name, v[1], item) if len(v) > 1 else 5
        slices = _int(name, v[2], item) if len(v) > 2 else 10
        if pert > slices:
            raise ValueError(
                f"parse_defense: item {item!r}: PERTURBED > SLICES; syntax: {SYNTAX[name]}"
            )
        comp = dict(compensate=True, q=v[3] if len(v) > 3 else 6.0) if name.endswith("comp") else {}
        return GradDefenseAuto(
            key, slices_num=slices, perturb_slices_num=pert, noise_std=std, **comp
        )
    if name == "soteria":
        return soteria(f(1, 1)[0])
    if name == "dpsgd":
        c, s = f(2, 2)
        return dp_sgd(c, s)
    if name == "mixup":
        v = f(1, 2)
        return mixup(_int(name, v[0], item), v[1] if len(v) > 1 else 1.0)
    if name == "instahide":
        return instahide(_int(name, f(1, 1)[0], item))
    raise AssertionError(name)  # pragma: no cover


def _items(spec: str) -> list[tuple[str, str | None, str]]:
    out = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(
                f"parse_defense: empty item in spec {spec!r}; items are separated by single commas"
            )
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name not in SYNTAX:
            raise ValueError(
                f"parse_defense: unknown defense {name!r} in item {item!r}; accepted: "
                f"{_syntax_help()}"
            )
        out.append((name, value.strip() if "=" in item else None, item))
    return out


def defense_numbers(spec: str) -> tuple[str, list[float]]:
    """Split ``spec`` into a skeleton (its structure, numbers replaced by ``#``) and the list of
    its numbers that may be traced. Specs with the same skeleton build the same computation;
    a sweep batches their numbers. ``quant`` kinds and the counts of ``graddefense``,
    ``mixup`` and ``instahide`` stay in the skeleton."""
    if not isinstance(spec, str) or spec.strip().lower() in ("", "none"):
        return "none", []
    skeleton, numbers = [], []
    for name, value, item in _items(spec):
        if name == "quant" or value is None:
            skeleton.append(item.replace(" ", ""))
            continue
        parts = _floats(name, value, 0, 8, item)
        static = STATIC_POSITIONS.get(name, ())
        shown = []
        for i, p in enumerate(parts):
            if i in static:
                shown.append(repr(p))
            else:
                shown.append("#")
                numbers.append(p)
        skeleton.append(f"{name}={':'.join(shown)}")
    return ",".join(skeleton), numbers


def build_defense(spec: str, key, numbers=None):
    """:func:`parse_defense`'s defense, with the spec's traceable numbers replaced by
    ``numbers`` (same order as :func:`defense_numbers`; scalars that may be traced)."""
    if not isinstance(spec, str) or spec.strip().lower() in ("", "none"):
        return None
    if numbers is None:
        return parse_defense(spec, key)[0]
    key = canonicalize_key("build_defense", key)
    numbers = list(numbers)
    items, consumed = [], 0
    for name, value, item in _items(spec):
        n = 0
        if name != "quant" and value is not None:
            parts = _floats(name, value, 0, 8, item)
            n = len(parts) - len([i for i in STATIC_POSITIONS.get(name, ()) if i < len(parts)])
        items.append((name, value, item, numbers[consumed : consumed + n]))
        consumed += n
    if consumed != len(numbers):
        raise ValueError(
            f"build_defense: spec {spec!r} has {consumed} traceable numbers, got {len(numbers)}"
        )
    return _assemble(items, key, spec)[0]


def _assemble(items, key, spec):
    tier2, tier1, desc = None, [], []
    for i, (name, value, item, numbers) in enumerate(items):
        try:
            d = _build(name, value, jax.random.fold_in(key, i), item, numbers)
        except (ValueError, TypeError) as e:
            if str(e).startswith("parse_defense"):
                raise
            raise type(e)(f"parse_defense: item {item!r}: {e}; syntax: {SYNTAX[name]}") from None
        desc.append(item.replace(" ", ""))
        if name in TIER2:
            if i != 0 or tier2 is not None:
                raise ValueError(
                    f"parse_defense: item {item!r} is a tier-2 defense (needs the model or the "
                    "batch); it must be the first item and at most one is allowed"
                )
            tier2 = d
        else:
            tier1.append(d)
    description = ",".join(desc)
    tx = None
    if tier1:
        tx = tier1[0] if len(tier1) == 1 else chain(*tier1)
    if tier2 is None:
        return tx, description
    if tx is None:
        tier2.description = description
        return tier2, description
    return Tier2ThenTier1(tier2, tx, description), description


def parse_defense(spec: str, key) -> tuple[Any, str]:
    """Parse ``spec`` (see the module docstring) into ``(defense, description)``.

    Args:
      spec: e.g. ``"clip=4,noise_std=0.01"``; ``""`` or ``"none"`` gives ``(None, "")``.
      key: typed PRNG key or int seed; item i uses ``fold_in(key, i)``.

    Returns:
      ``defense`` is ``None``, an ``optax.GradientTransformation`` (tier-1 items only), or a
      tier-2 defense (``.wrap(model, grad_fn)``; a tier-2 item followed by tier-1 items gives
      a :class:`leakjax.defenses._tier2.Tier2ThenTier1`). ``description`` is the normalized
      spec.

    Raises:
      ValueError: unknown names and bad values, naming the item and the accepted syntax.
    """
    if not isinstance(spec, str):
        raise TypeError(f"parse_defense: spec={spec!r}, expected a string such as 'prune=0.9'")
    if spec.strip().lower() in ("", "none"):
        return None, ""
    key = canonicalize_key("parse_defense", key)
    items = [(name, value, item, None) for name, value, item in _items(spec)]
    return _assemble(items, key, spec)


def spec_wire_format(spec: str) -> WireFormat:
    """The value encoding of a spec's output: the last ``quant=`` kind, else dense float32."""
    fmt = WIRE_FORMATS["dense"]
    if not isinstance(spec, str) or spec.strip().lower() in ("", "none"):
        return fmt
    for name, value, _ in _items(spec):
        if name == "quant" and value in WIRE_FORMATS:
            fmt = WIRE_FORMATS[value]
    return fmt
