"""Defenses: tier 1 as optax transforms on the shared update, tier 2 on the client's grad fn.

See the module docstrings (one file per defense) and the algorithm cards 8-15.
"""

from leakjax.defenses.clipping import ClipGlobalNormState, clip_global_norm
from leakjax.defenses.dgp import DualGradientPruningState, dual_gradient_pruning
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

__all__ = [
    "QUANT_KINDS",
    "SIMULATIONS",
    "ClipGlobalNormState",
    "DualGradientPruningState",
    "GaussianNoiseState",
    "LaplaceNoiseState",
    "OutpostState",
    "PruneByMagnitudeState",
    "QuantizeState",
    "TopkSparsifyState",
    "clip_global_norm",
    "dual_gradient_pruning",
    "gaussian_noise",
    "laplace_noise",
    "laplace_scale_from_variance",
    "make_simulation",
    "outpost",
    "prune_by_magnitude",
    "quantize",
    "std_from_variance",
    "topk_sparsify",
]
