"""Reconstruction and label metrics; per-example values, explicit image space."""

from leakjax.metrics.image import SPACES, label_accuracy, mse, psnr, ssim
from leakjax.metrics.lpips import (
    LPIPSInputError,
    LPIPSWeightsInvalid,
    LPIPSWeightsMissing,
    LPIPSWeightsMissingWarning,
    lpips,
    lpips_forward,
)
from leakjax.metrics.lpips import load_weights as load_lpips_weights
from leakjax.metrics.lpips import weights_available as lpips_available
from leakjax.metrics.matching import match_batch, pairwise_cost
from leakjax.metrics.semantic import SemanticClassifier, class_match, train_semantic_classifier
from leakjax.metrics.text import (
    bleu_scores,
    match_sequences,
    rouge_scores,
    token_accuracy,
    token_mask,
    token_set_precision_recall,
)

__all__ = [
    "SPACES",
    "SemanticClassifier",
    "class_match",
    "label_accuracy",
    "match_batch",
    "mse",
    "pairwise_cost",
    "psnr",
    "ssim",
    "train_semantic_classifier",
    "bleu_scores",
    "match_sequences",
    "rouge_scores",
    "token_accuracy",
    "token_mask",
    "token_set_precision_recall",
    "LPIPSInputError",
    "LPIPSWeightsInvalid",
    "LPIPSWeightsMissing",
    "LPIPSWeightsMissingWarning",
    "load_lpips_weights",
    "lpips",
    "lpips_available",
    "lpips_forward",
]
