"""Report figures (matplotlib, Agg): privacy-utility-communication trade-offs and cell grids.

* :func:`tradeoff_figure`: leakage (a cell's median PSNR on [0, 1], with its 95% bootstrap
  interval as error bars) against upload bits, FedAvg test accuracy or DP epsilon; one panel
  per scenario (attack and any other varying setting), one curve per defense kind (points in
  order of strength), the undefended cell as a star and a dashed line.
* :func:`cell_grid_figure`: ground truth above the best, median and worst reconstruction of a
  cell (by PSNR), captioned with the victim's label/source, the PSNR and the run's status.

:func:`save_figure` writes a figure as PNG and PDF and returns the PNG's bytes (for embedding).
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

#: x axes of the trade-off plots: name -> (label, log scale).
TRADEOFF_AXES = {
    "bits": ("upload bits per client update", True),
    "accuracy": ("FedAvg test accuracy (same defense)", False),
    "epsilon": ("DP epsilon of the attacked round", True),
}
LEAKAGE_LABEL = "median PSNR on [0, 1] (dB)"
#: Images per run shown in a grid at most (B > this shows the first ones).
MAX_IMAGES_PER_RUN = 8


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite(v) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def tradeoff_x(cell, axis: str):
    """A cell's x value on ``axis`` (``None`` when it has none)."""
    if axis == "bits":
        return cell.upload_bits
    if axis == "accuracy":
        return cell.utility["accuracy"]
    if axis == "epsilon":
        return cell.epsilon
    raise ValueError(f"tradeoff_x: axis={axis!r}, expected one of {tuple(TRADEOFF_AXES)}")


def tradeoff_points(cells: Sequence, axis: str) -> dict:
    """``{scenario: {kind: [(x, y, y_low, y_high, strength_label), ...]}}`` of the cells that
    have a finite x on ``axis`` and a finite median PSNR; the ``"none"`` kind is kept even
    without x (its PSNR is the baseline line)."""
    out: dict = {}
    for c in cells:
        s = c.stats["psnr"]
        y = s["median"]
        if not _finite(y):
            continue
        x = tradeoff_x(c, axis)
        if not _finite(x) and c.kind != "none":
            continue
        lo, hi = s["ci"] if s["ci"] else (y, y)
        pts = out.setdefault(c.scenario, {}).setdefault(c.kind, [])
        pts.append((x if _finite(x) else None, y, lo, hi, c.strength_label, c.strength))
    for kinds in out.values():
        for pts in kinds.values():
            pts.sort(key=lambda p: p[5])
    return out


def _colors(kinds: Sequence[str]) -> dict:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    others = sorted(k for k in kinds if k != "none")
    out = {k: cmap(i % 10) for i, k in enumerate(others)}
    out["none"] = (0.2, 0.2, 0.2, 1.0)
    return out


def tradeoff_figure(cells: Sequence, axis: str, *, title: str | None = None):
    """Leakage against ``axis`` (``"bits"``, ``"accuracy"``, ``"epsilon"``); see the module
    docstring. Returns the matplotlib figure and the number of points drawn."""
    if axis not in TRADEOFF_AXES:
        raise ValueError(f"tradeoff_figure: axis={axis!r}, expected one of {tuple(TRADEOFF_AXES)}")
    plt = _plt()
    xlabel, log = TRADEOFF_AXES[axis]
    points = tradeoff_points(cells, axis)
    scenarios = sorted(points) or ["(no cells)"]
    colors = _colors(sorted({c.kind for c in cells}))
    ncols = min(3, len(scenarios))
    nrows = math.ceil(len(scenarios) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False, constrained_layout=True
    )
    drawn = 0
    for i, scen in enumerate(scenarios):
        ax = axes[i // ncols][i % ncols]
        kinds = points.get(scen, {})
        xs_all = [p[0] for pts in kinds.values() for p in pts if p[0] is not None]
        if not xs_all:
            kinds = {}  # nothing to place on this axis: no baseline either
        for kind, pts in sorted(kinds.items()):
            pts_x = [p for p in pts if p[0] is not None]
            if kind == "none":
                for p in pts:
                    ax.axhline(p[1], color=colors["none"], ls="--", lw=0.8)
                if pts_x:
                    ax.plot(
                        [p[0] for p in pts_x],
                        [p[1] for p in pts_x],
                        "*",
                        color=colors["none"],
                        ms=10,
                        label="no defense",
                    )
                    drawn += len(pts_x)
                elif pts:
                    ax.plot([], [], "--", color=colors["none"], lw=0.8, label="no defense")
                continue
            x = np.asarray([p[0] for p in pts_x], float)
            y = np.asarray([p[1] for p in pts_x], float)
            err = np.asarray([[p[1] - p[2] for p in pts_x], [p[3] - p[1] for p in pts_x]], float)
            err = np.where(np.isfinite(err), err, 0.0)
            ax.errorbar(
                x, y, yerr=err, fmt="o-", color=colors.get(kind), ms=4, lw=1.2, capsize=2,
                label=kind,
            )  # fmt: skip
            for p in pts_x:
                ax.annotate(
                    p[4], (p[0], p[1]), textcoords="offset points", xytext=(3, 3), fontsize=6
                )
            drawn += len(pts_x)
        if log and xs_all and min(xs_all) > 0:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(LEAKAGE_LABEL, fontsize=8)
        ax.set_title(scen, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if not xs_all:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(
                0.5, 0.5, f"no cell has a value on this axis ({axis})", ha="center",
                va="center", transform=ax.transAxes, fontsize=8, color="0.4",
            )  # fmt: skip
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    for j in range(len(scenarios), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, drawn


def _caption_truth(victim: Mapping, j: int) -> str:
    names = victim.get("names") or []
    labels = victim.get("labels") or []
    sources = victim.get("sources") or []
    name = names[j] if j < len(names) else (labels[j] if j < len(labels) else "?")
    text = f"label {name}"
    if j < len(sources) and sources[j] and str(sources[j]) != str(name):
        text += f"\n{sources[j]}"
    return "\n".join(textwrap.wrap(text, 24, break_long_words=True, replace_whitespace=False))


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.clip(np.nan_to_num(np.asarray(img, np.float32)), 0.0, 1.0)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] != 3:
        img = np.repeat(img[..., :1], 3, axis=-1)
    return img


def matched(recon: np.ndarray, perm) -> np.ndarray:
    """The reconstruction reordered so that image j is the one matched to truth image j
    (``perm`` from the row's metrics; ignored when it does not fit)."""
    if perm is None:
        return recon
    p = np.asarray(perm)
    if p.ndim != 1 or p.size != recon.shape[0] or sorted(p.tolist()) != list(range(p.size)):
        return recon
    return recon[p]


def cell_grid_figure(cell, picks: Mapping[str, tuple], *, max_images: int = MAX_IMAGES_PER_RUN):
    """Ground truth (top row) above the reconstruction (bottom row) of each pick.

    Drawn as one mosaic image on one axes (fast for hundreds of cells; pixels shown as
    nearest-neighbour blocks), with the captions as text.

    Args:
      cell: a :class:`leakjax.report.tables.Cell` (for the title).
      picks: ``{"best"|"median"|"worst": (row, truth (B,H,W,C), reconstruction (B,H,W,C))}``
        with arrays in [0, 1]; the reconstruction already matched to the truth's order.
      max_images: images per run shown at most.
    """
    plt = _plt()
    names = [k for k in ("best", "median", "worst") if k in picks]
    b = min(max_images, max(picks[k][1].shape[0] for k in names))
    h = max(picks[k][1].shape[1] for k in names)
    w = max(picks[k][1].shape[2] for k in names)
    up = max(1, math.ceil(64 / max(h, w)))  # integer upscaling: crisp pixels, fine layout
    th, tw = h * up, w * up
    ppi = tw / 1.1  # a tile is 1.1 inch wide
    gap, group_gap = round(0.08 * ppi), round(0.35 * ppi)
    left, top = round(0.45 * ppi), round(0.75 * ppi)
    cap = round(0.42 * ppi)  # caption space under each row
    width = left + len(names) * (b * tw + (b - 1) * gap) + (len(names) - 1) * group_gap + gap
    height = top + 2 * (th + cap)
    canvas = np.ones((height, width, 3), np.float32)
    texts = []  # (x_px, y_px, text, fontsize, ha, va, rotation)
    x0 = left
    y_truth, y_recon = top, top + th + cap
    for name in names:
        row, truth, recon = picks[name]
        victim = row.get("victims") if isinstance(row.get("victims"), dict) else {}
        per = (row.get("metrics") or {}).get("per_image", {}).get("psnr") or []
        same = [k for k in names if k != name and picks[k][0].get("run_id") == row.get("run_id")]
        label = name + (f" (= {', '.join(same)})" if same else "")
        psnr = row.get("psnr")
        head = f"{label}\n{psnr:.1f} dB, {row.get('status')}" if psnr is not None else label
        texts.append((x0, y_truth - 0.06 * ppi, head, 7, "left", "bottom", 0))
        for j in range(min(b, truth.shape[0])):
            x = x0 + j * (tw + gap)
            for y, img in ((y_truth, truth[j]), (y_recon, recon[j])):
                tile = np.kron(_rgb(img), np.ones((up, up, 1), np.float32))
                canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
            cx = x + tw / 2
            texts.append((cx, y_truth + th + 0.04 * ppi, _caption_truth(victim, j), 6, "center",
                          "top", 0))  # fmt: skip
            p = per[j] if j < len(per) else None
            if isinstance(p, int | float):
                texts.append((cx, y_recon + th + 0.04 * ppi, f"{p:.1f} dB", 6, "center", "top", 0))
        texts.append((x0 + (b * tw + (b - 1) * gap) / 2, y_recon + th + 0.2 * ppi,
                      f"seed {row.get('seed')}, victim {row.get('victim')}", 6, "center", "top",
                      0))  # fmt: skip
        x0 += b * tw + (b - 1) * gap + group_gap
    texts.append((left - 0.08 * ppi, y_truth + th / 2, "ground truth", 7, "right", "center", 90))
    texts.append((left - 0.08 * ppi, y_recon + th / 2, "reconstruction", 7, "right", "center", 90))
    title = "\n".join(textwrap.wrap(f"cell {cell.index}: {cell.label}", 80))
    texts.append((width / 2, 0.06 * ppi, title, 8, "center", "top", 0))
    fig = plt.figure(figsize=(width / ppi, height / ppi))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, interpolation="nearest", extent=(0, width, height, 0), aspect="auto")
    for x, y, t, size, ha, va, rot in texts:
        ax.text(x, y, t, fontsize=size, ha=ha, va=va, rotation=rot)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    return fig


def save_figure(fig, base: str, *, pdf: bool = True, dpi: int = 130) -> tuple[list[str], bytes]:
    """Write ``fig`` to ``base + ".png"`` (and ``".pdf"``), close it, and return the paths and
    the PNG's bytes."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    png = buf.getvalue()
    paths = [base + ".png"]
    with open(paths[0], "wb") as f:
        f.write(png)
    if pdf:
        paths.append(base + ".pdf")
        fig.savefig(paths[1], format="pdf", metadata={"CreationDate": None})
    plt.close(fig)
    return paths, png


def slug(text: str, limit: int = 48) -> str:
    """A file-name-safe version of ``text``."""
    out = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")[:limit] or "x"


def figure_base(folder: str, name: str) -> str:
    return os.path.join(folder, slug(name, 80))
