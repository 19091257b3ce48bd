"""Image grids: ground truth above one row of reconstructions per attack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def save_grid(
    path: str,
    ground_truth: np.ndarray,
    rows: Mapping[str, np.ndarray],
    *,
    captions: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> str:
    """Save a PNG grid: the first row is ``ground_truth`` (N, H, W, C) in [0, 1], then one row per
    entry of ``rows`` (name -> (N, H, W, C) reconstructions in [0, 1]), captioned per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gt = np.asarray(ground_truth)
    n = gt.shape[0]
    names = ["ground truth", *rows]
    images = [gt, *(np.asarray(v) for v in rows.values())]
    fig, axes = plt.subplots(
        len(names), n, figsize=(1.4 * n + 1.2, 1.55 * len(names)), squeeze=False
    )
    for r, (name, imgs) in enumerate(zip(names, images, strict=True)):
        for c in range(n):
            ax = axes[r][c]
            img = np.clip(imgs[c], 0.0, 1.0)
            if img.shape[-1] == 1:
                ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if captions and name in captions:
                ax.set_xlabel(captions[name][c], fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
