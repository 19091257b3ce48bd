"""The model zoo and adapters from Flax Linen / NNX to a pure :class:`leakjax.types.Model`."""

from leakjax.models.adapters import find_classifier_path, from_fn, from_linen, from_nnx
from leakjax.models.convnet import ConvNet, convnet
from leakjax.models.lenet import SigmoidLeNet, lenet
from leakjax.models.mlp import MLP, mlp
from leakjax.models.resnet import CifarResNet, resnet18, resnet20

MODELS = {
    "lenet": lenet,
    "mlp": mlp,
    "convnet": convnet,
    "resnet18": resnet18,
    "resnet20": resnet20,
}

__all__ = [
    "CifarResNet",
    "ConvNet",
    "convnet",
    "resnet18",
    "resnet20",
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
