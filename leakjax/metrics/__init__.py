"""Reconstruction and label metrics; per-example values, explicit image space."""

from leakjax.metrics.image import SPACES, label_accuracy, mse, psnr, ssim
from leakjax.metrics.matching import match_batch, pairwise_cost

__all__ = [
    "SPACES",
    "label_accuracy",
    "match_batch",
    "mse",
    "pairwise_cost",
    "psnr",
    "ssim",
]
