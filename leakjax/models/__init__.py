"""The model zoo and adapters from Flax Linen / NNX to a pure :class:`leakjax.types.Model`."""

from leakjax.models.adapters import find_classifier_path, from_fn, from_linen, from_nnx
from leakjax.models.lenet import SigmoidLeNet, lenet
from leakjax.models.mlp import MLP, mlp

MODELS = {"lenet": lenet, "mlp": mlp}

__all__ = [
    "MLP",
    "MODELS",
    "SigmoidLeNet",
    "find_classifier_path",
    "from_fn",
    "from_linen",
    "from_nnx",
    "lenet",
    "mlp",
]
