"""The model zoo and adapters from Flax Linen / NNX to a pure :class:`leakjax.types.Model`."""

from leakjax.models.adapters import find_classifier_path, from_fn, from_linen, from_nnx
from leakjax.models.convnet import ConvNet, convnet
from leakjax.models.lenet import SigmoidLeNet, lenet
from leakjax.models.mlp import MLP, mlp
from leakjax.models.resnet import CifarResNet, resnet18, resnet20
from leakjax.models.transformer import (
    TextTransformer,
    check_token_ids,
    embedding_model,
    is_text_model,
    layer_order,
    lm_labels,
    token_embedding,
    transformer3,
    transformer_classifier,
    transformer_lm,
)

MODELS = {
    "lenet": lenet,
    "mlp": mlp,
    "convnet": convnet,
    "resnet18": resnet18,
    "resnet20": resnet20,
}

TEXT_MODELS = {
    "transformer3": transformer3,
    "transformer_lm": transformer_lm,
    "transformer_classifier": transformer_classifier,
}
"""Text model name -> factory ``f(key, *, vocab_size, ...)`` (``transformer_classifier`` also
needs ``num_classes``)."""

__all__ = [
    "CifarResNet",
    "ConvNet",
    "convnet",
    "resnet18",
    "resnet20",
    "MLP",
    "MODELS",
    "TEXT_MODELS",
    "TextTransformer",
    "check_token_ids",
    "embedding_model",
    "is_text_model",
    "layer_order",
    "lm_labels",
    "token_embedding",
    "transformer3",
    "transformer_classifier",
    "transformer_lm",
    "SigmoidLeNet",
    "find_classifier_path",
    "from_fn",
    "from_linen",
    "from_nnx",
    "lenet",
    "mlp",
]
