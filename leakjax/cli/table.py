"""The summary table the CLI prints, computed from store rows only.

One line per cell (attack x defense, in the order the runs were declared):

* the **status** counts: ``converged``, ``max_steps``, ``diverged``, ``failed``;
* the **success rate**: runs whose PSNR (on [0, 1] images) is at least
  :data:`leakjax.report.SUCCESS_PSNR_DB` (20) dB, as in ``leakjax report``, over the runs that produced a result (converged + max_steps + diverged; a diverged run is a
  failed attack; a failed run, whose program raised, is left out), with the count;
* **stalled**: converged or max_steps runs below the success PSNR (DLG/iDLG from one start
  stall in 12-31% of runs; ``--restarts R`` keeps the best of R starts by matching loss);
* **medians** of PSNR, SSIM and MSE over the converged and max_steps runs only (diverged runs
  are counted apart): the *lower* median, i.e. for an even count the smaller of the two middle
  values, so every printed value is one some run reached;
* **label accuracy** over the same runs, and the median of each run's own wall time
  (``seconds``; under ``--strategy vmap`` a chunk's time divided by its runs, marked so).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from leakjax.report.stats import lower_median
from leakjax.report.tables import SUCCESS_PSNR_DB  # the report's definition, shared

STATUSES = ("converged", "max_steps", "diverged", "failed")
VALID = ("converged", "max_steps")


def _metrics(row: dict) -> dict:
    m = row.get("metrics")
    if isinstance(m, str):
        return json.loads(m) if m else {}
    return m or {}


def cell_stats(rows: Sequence[dict]) -> dict:
    """The table's numbers for the runs of one cell."""
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    valid = [r for r in rows if r["status"] in VALID]
    with_result = [r for r in rows if r["status"] != "failed"]
    wins = sum(
        r["status"] in VALID and r.get("psnr") is not None and r["psnr"] >= SUCCESS_PSNR_DB
        for r in with_result
    )
    acc = [r["label_acc"] for r in valid if r.get("label_acc") is not None]
    return dict(
        runs=len(rows),
        counts=counts,
        successes=wins,
        success_rate=wins / len(with_result) if with_result else None,
        stalled=len(valid) - wins,
        psnr=lower_median(r.get("psnr") for r in valid),
        ssim=lower_median(r.get("ssim") for r in valid),
        mse=lower_median(r.get("mse") for r in valid),
        label_acc=sum(acc) / len(acc) if acc else None,
        seconds=lower_median(r.get("seconds") for r in rows if r["status"] != "failed"),
        chunk_mean_seconds=any(_metrics(r).get("strategy") == "vmap" for r in rows),
    )


def cells(rows: Sequence[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        out.setdefault((r["attack"], r.get("defense") or "none"), []).append(r)
    return out


def _fmt(v, spec: str, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return ("inf" if v > 0 else "-inf") + suffix
    return format(v, spec) + suffix


def summary_table(rows: Sequence[dict]) -> str:
    """The table (with its two footnote lines) for ``rows`` from a store."""
    header = [
        "attack", "defense", "runs", *STATUSES, f"success(>={SUCCESS_PSNR_DB:g}dB)", "stalled",
        "PSNR*", "SSIM*", "MSE*", "label acc", "s/run*",
    ]  # fmt: skip
    body = []
    vmap_seconds = False
    for (attack, defense), rs in cells(rows).items():
        st = cell_stats(rs)
        vmap_seconds |= st["chunk_mean_seconds"]
        rate = st["success_rate"]
        body.append(
            [
                attack,
                defense,
                str(st["runs"]),
                *(str(st["counts"][s]) for s in STATUSES),
                "-" if rate is None else f"{rate:.0%} ({st['successes']})",
                str(st["stalled"]),
                _fmt(st["psnr"], ".1f", "dB"),
                _fmt(st["ssim"], ".3f"),
                _fmt(st["mse"], ".2e"),
                "-" if st["label_acc"] is None else f"{st['label_acc']:.0%}",
                _fmt(st["seconds"], ".2f"),
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    left = {0, 1}

    def line(cols):
        return " ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))

    lines = [line(header), *(line(b) for b in body)]
    lines.append(
        f"success: PSNR >= {SUCCESS_PSNR_DB:g} dB on [0, 1] images, over the runs with a result "
        "(a diverged run counts as a miss); stalled: converged/max_steps runs below that "
        "(--restarts R keeps the best of R starts by matching loss)"
    )
    seconds = (
        "a chunk's time / its runs (--strategy vmap)" if vmap_seconds else "each run's own time"
    )
    lines.append(
        "* lower median (a value one run reached) over converged and max_steps runs; diverged "
        f"runs are counted apart; s/run: {seconds}"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# text runs
# --------------------------------------------------------------------------------------------

TEXT_COLUMNS = (
    ("token_accuracy", "token acc", ".0%"),
    ("rouge1", "ROUGE-1", ".2f"),
    ("rouge2", "ROUGE-2", ".2f"),
    ("rougeL", "ROUGE-L", ".2f"),
    ("token_precision", "token P", ".2f"),
    ("token_recall", "token R", ".2f"),
)


def _text(row: dict) -> dict:
    return _metrics(row).get("text") or {}


def text_summary(rows: Sequence[dict]) -> str:
    """Per cell (attack x defense): status counts and the lower medians of the text metrics over
    the converged and max_steps runs, then every run's truth next to what was recovered."""
    header = ["attack", "defense", "runs", *STATUSES, *(h for _, h, _ in TEXT_COLUMNS)]
    body = []
    for (attack, defense), rs in cells(rows).items():
        counts = {s: sum(r["status"] == s for r in rs) for s in STATUSES}
        valid = [r for r in rs if r["status"] in VALID]
        cols = []
        for key, _, spec in TEXT_COLUMNS:
            vals = [_text(r).get(key) for r in valid]
            cols.append(_fmt(lower_median(v for v in vals if v is not None), spec))
        body.append([attack, defense, str(len(rs)), *(str(counts[s]) for s in STATUSES), *cols])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cols):
        return " ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))

    lines = [line(header), *(line(b) for b in body)]
    lines.append(
        "lower medians (a value one run reached) over converged and max_steps runs; token acc: "
        "position-wise, Hungarian-matched for B > 1; token P/R: the recovered token set"
    )
    return "\n".join(lines) + "\n\n" + text_pairs(rows)


def text_pairs(rows: Sequence[dict], markdown: bool = False) -> str:
    """Each run's true text above its recovered text (token sets for token-set recovery)."""
    out = []
    for r in rows:
        t = _text(r)
        head = t.get("token_accuracy")
        score = f"token acc {head:.0%}" if head is not None else (
            f"token recall {t['token_recall']:.0%}" if t.get("token_recall") is not None else ""
        )
        title = f"{r['attack']} | victim {r['victim']} | seed {r['seed']} | {r['status']} | {score}"
        if r["status"] == "failed":
            err = _metrics(r).get("error") or "no result"
            out += [f"### {title}\n", f"- error: `{err}`", ""] if markdown else [title, f"  error: {err}"]
            continue
        truth, rec = t.get("truth"), t.get("recovered")
        truth = truth if isinstance(truth, list) else [truth]
        rec = rec if isinstance(rec, list) else [rec]
        if markdown:
            out.append(f"### {title}\n")
            for a, b in zip(truth, rec):
                out += [f"- truth:     `{a}`", f"- recovered: `{b}`"]
            out.append("")
        else:
            out.append(title)
            for a, b in zip(truth, rec):
                out += [f"  truth:     {a}", f"  recovered: {b}"]
    return "\n".join(out)
