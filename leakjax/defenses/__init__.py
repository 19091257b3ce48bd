"""Defenses against gradient leakage (algorithm cards 8-15).

Tier 1 (on the shared update): ``optax.GradientTransformation`` factories with a ``<Name>State``
NamedTuple and the key at construction; they compose with ``optax.chain`` and target layers with
``optax.masked`` / ``optax.partition``. Tier 2 (need the model, the batch or per-example
gradients): objects with ``wrap(model, grad_fn) -> keyed_grad_fn(key, params, x, y)`` and a
``description`` (:class:`leakjax.fl.GradFnDefense`). Communication cost: :mod:`.comm`. Adaptive
simulation for attackers: :mod:`.simulate`. Text specs: :func:`parse_defense`.
"""

from leakjax.defenses import placement
from leakjax.defenses._tier2 import Tier2Defense, Tier2ThenTier1
from leakjax.defenses.clipping import ClipGlobalNormState, clip_global_norm
from leakjax.defenses.comm import WIRE_FORMATS, WireFormat, dense_bits, upload_bits
from leakjax.defenses.dgp import DualGradientPruningState, dual_gradient_pruning
from leakjax.defenses.dpsgd import DPSGD, dp_epsilon, dp_sgd
from leakjax.defenses.graddefense import (
    GradDefenseAuto,
    GradDefenseClip,
    GradDefenseState,
    grad_defense,
    grad_defense_clip,
    graddefense_compensate,
    graddefense_slices,
)
from leakjax.defenses.masking import mask_by_path, masked
from leakjax.defenses.mixing import InputMixing, instahide, mixup
from leakjax.defenses.noise import (
    GaussianNoiseState,
    LaplaceNoiseState,
    gaussian_noise,
    laplace_noise,
    laplace_scale_from_variance,
    std_from_variance,
)
from leakjax.defenses.outpost import OutpostState, outpost
from leakjax.defenses.pruning import (
    PruneByMagnitudeState,
    TopkSparsifyState,
    prune_by_magnitude,
    topk_sparsify,
)
from leakjax.defenses.quantization import QUANT_KINDS, QuantizeState, quantize
from leakjax.defenses.simulate import SIMULATIONS, make_simulation
from leakjax.defenses.soteria import Soteria, soteria
from leakjax.defenses.spec import parse_defense, spec_wire_format

TIER1 = {
    "gaussian_noise": gaussian_noise,
    "laplace_noise": laplace_noise,
    "clip_global_norm": clip_global_norm,
    "prune_by_magnitude": prune_by_magnitude,
    "topk_sparsify": topk_sparsify,
    "quantize": quantize,
    "dual_gradient_pruning": dual_gradient_pruning,
    "outpost": outpost,
    "grad_defense": grad_defense,
}
"""Tier-1 factories (each returns an ``optax.GradientTransformation``)."""

TIER2 = {
    "dp_sgd": dp_sgd,
    "soteria": soteria,
    "mixup": mixup,
    "instahide": instahide,
    "grad_defense_clip": grad_defense_clip,
}
"""Tier-2 factories (each returns an object with ``wrap(model, grad_fn)``)."""

DEFENSES = {**TIER1, **TIER2}
"""Every defense factory by name."""

__all__ = [
    "DEFENSES",
    "DPSGD",
    "QUANT_KINDS",
    "SIMULATIONS",
    "TIER1",
    "TIER2",
    "WIRE_FORMATS",
    "ClipGlobalNormState",
    "DualGradientPruningState",
    "GaussianNoiseState",
    "GradDefenseAuto",
    "GradDefenseClip",
    "GradDefenseState",
    "InputMixing",
    "LaplaceNoiseState",
    "OutpostState",
    "PruneByMagnitudeState",
    "QuantizeState",
    "Soteria",
    "Tier2Defense",
    "Tier2ThenTier1",
    "TopkSparsifyState",
    "WireFormat",
    "clip_global_norm",
    "dense_bits",
    "dp_epsilon",
    "dp_sgd",
    "dual_gradient_pruning",
    "gaussian_noise",
    "grad_defense",
    "grad_defense_clip",
    "graddefense_compensate",
    "graddefense_slices",
    "instahide",
    "laplace_noise",
    "laplace_scale_from_variance",
    "make_simulation",
    "mask_by_path",
    "masked",
    "mixup",
    "outpost",
    "placement",
    "parse_defense",
    "prune_by_magnitude",
    "quantize",
    "soteria",
    "spec_wire_format",
    "std_from_variance",
    "topk_sparsify",
    "upload_bits",
]
