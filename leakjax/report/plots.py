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


def _show(ax, img):
    img = np.clip(np.asarray(img, np.float32), 0.0, 1.0)
    if img.ndim == 3 and img.shape[-1] == 3:
        ax.imshow(img, interpolation="nearest")
    else:
        ax.imshow(img[..., 0] if img.ndim == 3 else img, cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


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

    Args:
      cell: a :class:`leakjax.report.tables.Cell` (for the title).
      picks: ``{"best"|"median"|"worst": (row, truth (B,H,W,C), reconstruction (B,H,W,C))}``
        with arrays in [0, 1]; the reconstruction already matched to the truth's order.
      max_images: images per run shown at most.
    """
    plt = _plt()
    names = [k for k in ("best", "median", "worst") if k in picks]
    b = min(max_images, max(picks[k][1].shape[0] for k in names))
    ncols = len(names) * b + (len(names) - 1)
    widths = []
    for i in range(len(names)):
        widths += [1.0] * b
        if i < len(names) - 1:
            widths.append(0.25)
    fig, axes = plt.subplots(
        2,
        ncols,
        figsize=(sum(widths) * 1.3 + 0.7, 2 * 1.3 + 0.9),
        squeeze=False,
        gridspec_kw=dict(width_ratios=widths),
        layout="compressed",
    )
    col = 0
    for i, name in enumerate(names):
        row, truth, recon = picks[name]
        victim = row.get("victims") if isinstance(row.get("victims"), dict) else {}
        per = (row.get("metrics") or {}).get("per_image", {}).get("psnr") or []
        for j in range(b):
            at, ar = axes[0][col + j], axes[1][col + j]
            if j < truth.shape[0]:
                _show(at, truth[j])
                _show(ar, recon[j])
                at.set_xlabel(_caption_truth(victim, j), fontsize=6)
                p = per[j] if j < len(per) else None
                ar.set_xlabel(f"{p:.1f} dB" if isinstance(p, int | float) else "", fontsize=6)
            else:
                at.axis("off")
                ar.axis("off")
        psnr = row.get("psnr")
        same = [k for k in names if k != name and picks[k][0].get("run_id") == row.get("run_id")]
        label = name + (f" (= {', '.join(same)})" if same else "")
        head = f"{label}\n{psnr:.1f} dB, {row.get('status')}" if psnr is not None else label
        axes[0][col].set_title(head, fontsize=7, loc="left")
        axes[1][col].set_ylabel(f"seed {row.get('seed')}\nvictim {row.get('victim')}", fontsize=6)
        col += b
        if i < len(names) - 1:
            axes[0][col].axis("off")
            axes[1][col].axis("off")
            col += 1
    axes[0][0].set_ylabel("ground truth", fontsize=7)
    fig.suptitle("\n".join(textwrap.wrap(f"cell {cell.index}: {cell.label}", 60)), fontsize=8)
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
