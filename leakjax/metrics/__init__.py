"""Reconstruction and label metrics; per-example values, explicit image space."""

from leakjax.metrics.image import SPACES, label_accuracy, mse, psnr, ssim

__all__ = ["SPACES", "label_accuracy", "mse", "psnr", "ssim"]
