"""The report page: one self-contained HTML file (inline CSS and script, images as data URIs).

:func:`render_page` turns what :func:`leakjax.report.write_report` computed into HTML. Nothing in
the page refers outside it (no external scripts, styles, fonts or images), so it can be mailed,
archived or opened offline. Its inline script sets ``document.body.dataset.ready`` to ``"ok"``
once the window has loaded, no script error happened and every image decoded
(``complete && naturalWidth > 0``), or to ``"error"`` (with ``data-errors`` / ``data-bad-images``)
otherwise; the headless-browser test reads that marker.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from collections.abc import Mapping, Sequence

from leakjax.report import stats
from leakjax.report.tables import (
    IMAGE_METRICS,
    STATUSES,
    SUCCESS_DEFINITION,
    VALID_STATUSES,
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;
 color:#1d1d1f;background:#fff;font-size:14px;line-height:1.4}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px}
th,td{border:1px solid #d6d6d6;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f3f3f5;position:sticky;top:0} td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#fafafa}
.ci{color:#666;font-size:11px;white-space:nowrap} .na{color:#999;font-style:italic}
.bad{color:#b00020} .muted{color:#666} .small{font-size:12px}
.defs{background:#f7f7fa;border:1px solid #e2e2ea;padding:8px 14px;border-radius:6px}
.defs li{margin:2px 0} pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:420px;
 font-size:12px;white-space:pre-wrap} figure{margin:10px 0 18px} figcaption{font-size:12px;color:#444}
img{max-width:100%;height:auto;border:1px solid #eee} details{margin:4px 0}
.text-sample td{white-space:pre-wrap;text-align:left;font-family:ui-monospace,monospace;font-size:12px}
nav a{margin-right:10px}
.grids{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:flex-start}
.grid-cell{max-width:100%} .grid-cell h3{margin-top:8px}
"""

_JS = """
(function(){
  var errors = [];
  window.addEventListener('error', function(e){
    errors.push(String((e && e.message) || (e && e.target && e.target.src) || 'error'));
  }, true);
  window.addEventListener('load', function(){
    var imgs = Array.prototype.slice.call(document.images);
    var bad = imgs.filter(function(i){ return !(i.complete && i.naturalWidth > 0); });
    var b = document.body;
    b.dataset.images = String(imgs.length);
    b.dataset.badImages = String(bad.length);
    b.dataset.errors = String(errors.length);
    b.dataset.ready = (errors.length === 0 && bad.length === 0) ? 'ok' : 'error';
  });
})();
"""


def esc(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def fmt(v, kind: str = "g") -> str:
    """A number for a table cell: ``None`` -> an em dash, inf -> the infinity sign."""
    if v is None:
        return "\u2014"
    if isinstance(v, float) and math.isinf(v):
        return "\u221e" if v > 0 else "-\u221e"
    if kind == "db":
        return f"{v:.2f}"
    if kind == "ssim":
        return f"{v:.3f}"
    if kind == "sci":
        return f"{v:.2e}"
    if kind == "g3":
        return f"{v:.3g}"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    return f"{v:.4g}"


def fmt_bits(bits) -> str:
    if bits is None:
        return "\u2014"
    for unit, scale in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if abs(bits) >= scale:
            return f"{bits / scale:.3g} {unit}"
    return f"{bits:.0f} bit"


_KIND = {"psnr": "db", "ssim": "ssim", "mse": "sci", "lpips": "g3"}


def _metric_cell(summary: dict, col: str, total_valid: int) -> str:
    if summary["n"] == 0:
        if col == "lpips":
            return '<td class="na">not computed</td>'
        return '<td class="na">\u2014</td>'
    k = _KIND.get(col, "g")
    med = fmt(summary["median"], k)
    lo, hi = summary["ci"]
    note = "" if summary["n"] == total_valid else f" (n={summary['n']})"
    title = f"lower median of {summary['n']} runs; 95% bootstrap interval"
    return (
        f'<td title="{esc(title)}">{med}<br><span class="ci">[{fmt(lo, k)}, {fmt(hi, k)}]'
        f"{esc(note)}</span></td>"
    )


def _img(png: bytes, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    w = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}"{w}>'


def _cell_table(cells: Sequence) -> str:
    heads = [
        ("#", ""),
        ("attack / scenario", "the attack and every other setting that varies across cells"),
        ("defense", "the defense spec (@ placement when set)"),
        ("kind", "defense kind (the spec's structure)"),
        ("strength", "the spec's numbers"),
        ("valid / runs", "runs with status converged or max_steps / all runs of the cell"),
    ]
    heads += [(f"{label}{' (' + unit + ')' if unit else ''}", "") for _, label, unit, _ in
              IMAGE_METRICS]  # fmt: skip
    heads += [
        ("success", "see the definition above"),
        ("label acc.", "mean fraction of labels recovered (valid runs)"),
        ("upload", "bits on the wire of one client update"),
        ("\u03b5", "DP epsilon of the attacked round (\u2014: no DP accounting)"),
        ("FedAvg acc.", "final test accuracy of the utility run(s) with the same defense"),
    ]
    out = ['<table id="cells"><thead><tr>']
    for h, t in heads:
        cls = ' class="l"' if h in ("attack / scenario", "defense", "kind") else ""
        out.append(f'<th{cls} title="{esc(t)}">{esc(h)}</th>')
    out.append("</tr></thead><tbody>")
    for c in cells:
        nvalid = len(c.valid)
        tds = [
            f'<td><a href="#cell-{c.index}">{c.index}</a></td>',
            f'<td class="l">{esc(c.scenario)}</td>',
            f'<td class="l">{esc(c.defense_label)}</td>',
            f'<td class="l">{esc(c.kind)}</td>',
            f"<td>{esc(c.strength_label)}</td>",
            f"<td>{nvalid} / {len(c.runs)}</td>",
        ]
        tds += [_metric_cell(c.stats[col], col, nvalid) for col, *_ in IMAGE_METRICS]
        if c.success is None:
            tds.append('<td class="na">n/a (no PSNR)</td>')
        elif c.success[1] == 0:
            tds.append('<td class="na">\u2014</td>')
        else:
            k, n = c.success
            tds.append(f"<td>{fmt(k / n, 'pct')}<br><span class='ci'>{k}/{n}</span></td>")
        tds.append(f"<td>{fmt(c.label_acc, 'pct')}</td>")
        tds.append(f'<td title="{esc(c.upload_bits)} bits">{fmt_bits(c.upload_bits)}</td>')
        tds.append(f"<td>{fmt(c.epsilon)}</td>")
        u = c.utility
        if u["n"] == 0:
            extra = f" ({u['failed']} failed)" if u["failed"] else ""
            tds.append(f'<td class="na">no utility run{esc(extra)}</td>')
        else:
            note = f"<br><span class='ci'>median of {u['n']}</span>" if u["n"] > 1 else ""
            tds.append(f"<td>{fmt(u['accuracy'], 'pct')}{note}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _status_table(cells: Sequence) -> str:
    out = ['<table id="status"><thead><tr><th>#</th><th class="l">cell</th>']
    out += [f"<th>{esc(s)}</th>" for s in STATUSES] + ["<th>total</th></tr></thead><tbody>"]
    totals = dict.fromkeys(STATUSES, 0)
    for c in cells:
        row = [f"<td>{c.index}</td><td class='l'>{esc(c.label)}</td>"]
        for s in STATUSES:
            n = c.counts.get(s, 0)
            totals[s] += n
            cls = ' class="bad"' if n and s in ("diverged", "failed") else ""
            row.append(f"<td{cls}>{n}</td>")
        row.append(f"<td>{len(c.runs)}</td>")
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("<tr><td></td><td class='l'><b>all cells</b></td>")
    out += [f"<td><b>{totals[s]}</b></td>" for s in STATUSES]
    out.append(f"<td><b>{sum(totals.values())}</b></td></tr></tbody></table>")
    return "".join(out)


def _text_table(cells: Sequence) -> str:
    keys = sorted({k for c in cells for k in c.text})
    if not keys:
        return ""
    out = ['<h2 id="text">Text metrics</h2><p class="small muted">Numeric entries of each '
           'run\'s <code>metrics["text"]</code>: lower median and 95% bootstrap interval over '
           "valid runs.</p><table><thead><tr><th>#</th><th class='l'>cell</th>"]  # fmt: skip
    out += [f"<th>{esc(k)}</th>" for k in keys] + ["</tr></thead><tbody>"]
    for c in cells:
        if not c.text:
            continue
        row = [f"<td>{c.index}</td><td class='l'>{esc(c.label)}</td>"]
        for k in keys:
            s = c.text.get(k)
            if s is None or s["n"] == 0:
                row.append('<td class="na">\u2014</td>')
            else:
                lo, hi = s["ci"]
                row.append(
                    f"<td>{fmt(s['median'])}<br><span class='ci'>[{fmt(lo)}, {fmt(hi)}]</span></td>"
                )
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _utility_table(rows: Sequence[dict]) -> str:
    if not rows:
        return '<p class="na">This sweep has no utility runs.</p>'
    out = [
        "<table id='utility'><thead><tr><th class='l'>defense</th><th class='l'>model</th>"
        "<th class='l'>data</th><th>seed</th><th>status</th><th>final acc.</th>"
        "<th>best acc.</th><th>upload / round</th><th>\u03b5 (training)</th>"
        "<th class='l'>accuracy per round</th></tr></thead><tbody>"
    ]
    for r in sorted(rows, key=lambda r: (str(r.get("defense")), str(r.get("model")))):
        m = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
        curve = m.get("accuracy_curve") or []
        curve_s = " ".join(f"{100 * a:.0f}" for a in curve) + ("%" if curve else "")
        dfn = str(r.get("defense")) + (f" @{r['placement']}" if r.get("placement") else "")
        status = r.get("status")
        cls = ' class="bad"' if status == "failed" else ""
        out.append(
            f"<tr><td class='l'>{esc(dfn)}</td><td class='l'>{esc(r.get('model'))}</td>"
            f"<td class='l'>{esc(r.get('data'))}</td><td>{esc(r.get('seed'))}</td>"
            f"<td{cls}>{esc(status)}</td><td>{fmt(r.get('accuracy'), 'pct')}</td>"
            f"<td>{fmt(m.get('best_accuracy'), 'pct')}</td>"
            f"<td>{fmt_bits(r.get('upload_bits'))}</td><td>{fmt(r.get('epsilon'))}</td>"
            f"<td class='l small'>{esc(curve_s)}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _failures(items: Sequence[dict]) -> str:
    if not items:
        return '<p class="muted">No run failed or diverged.</p>'
    out = [
        "<table id='failures'><thead><tr><th class='l'>status</th><th class='l'>kind</th>"
        "<th class='l'>attack</th><th class='l'>defense</th><th>seed</th><th>victim</th>"
        "<th class='l'>run</th><th class='l'>error</th></tr></thead><tbody>"
    ]
    for f in items:
        err = f["error"]
        first, _, rest = err.partition("\n")
        detail = f"<details><summary>details</summary><pre>{esc(rest)}</pre></details>" if \
            rest.strip() else ""  # fmt: skip
        out.append(
            f"<tr><td class='l bad'>{esc(f['status'])}</td><td class='l'>{esc(f['kind'])}</td>"
            f"<td class='l'>{esc(f['attack'])}</td><td class='l'>{esc(f['defense'])}</td>"
            f"<td>{esc(f['seed'])}</td><td>{esc(f['victim'])}</td>"
            f"<td class='l'><code>{esc(f['run_id'])}</code></td>"
            f"<td class='l'>{esc(first)}{detail}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _text_samples(cell) -> str:
    picks = cell.text_picks()
    if not picks or not cell.text_strings:
        return ""
    out = [
        f"<table class='text-sample'><thead><tr><th class='l'>run</th>"
        f"<th>{esc(cell.rank_text)}</th><th>status</th>"
    ]
    out += [f"<th class='l'>{esc(k)}</th>" for k in cell.text_strings] + ["</tr></thead><tbody>"]
    from leakjax.report.tables import text_strings

    for name, r in picks.items():
        t = (r.get("metrics") or {}).get("text", {})
        strings = text_strings(r)
        out.append(
            f"<tr><td class='l'>{esc(name)} (seed {esc(r.get('seed'))}, victim "
            f"{esc(r.get('victim'))})</td><td>{fmt(t.get(cell.rank_text))}</td>"
            f"<td>{esc(r.get('status'))}</td>"
            + "".join(f"<td>{esc(strings.get(k, ''))}</td>" for k in cell.text_strings)
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _grids(cells: Sequence, grids: Mapping[int, bytes], notes: Mapping[int, str]) -> str:
    out = [
        "<p class='small muted'>Per cell, top row: ground truth (label / source); bottom row: "
        "the reconstruction of the valid run with the best, the median (lower median) and the "
        "worst PSNR, with per-image PSNR, seed and victim. Text runs show the recovered text "
        "next to the truth, ranked by their text metric.</p><div class='grids'>"
    ]
    for c in cells:
        out.append(
            f'<div class="grid-cell"><h3 id="cell-{c.index}">Cell {c.index}: {esc(c.label)}</h3>'
        )
        if c.index in grids:
            alt = f"cell {c.index}: ground truth and best, median, worst reconstructions"
            out.append("<figure>" + _img(grids[c.index], alt) + "</figure>")
        if c.index in notes:
            out.append(f'<p class="na">{esc(notes[c.index])}</p>')
        out.append(_text_samples(c) + "</div>")
    out.append("</div>")
    return "".join(out)


def _sweeps(sweeps: Sequence[dict]) -> str:
    if not sweeps:
        return '<p class="na">The store holds no sweep declaration.</p>'
    out = []
    for s in sweeps:
        updated = s.get("updated")
        when = (
            _dt.datetime.fromtimestamp(updated, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            if isinstance(updated, int | float)
            else "?"
        )
        cfg = s.get("config") or {}
        desc = cfg.get("description") if isinstance(cfg, dict) else None
        out.append(f"<h3>Sweep <code>{esc(s.get('name'))}</code></h3>")
        out.append(f"<p class='small muted'>last run {esc(when)}</p>")
        if desc:
            out.append(f"<p>{esc(desc)}</p>")
        if s.get("source"):
            out.append(f"<details open><summary>source</summary><pre>{esc(s['source'])}</pre>"
                       "</details>")  # fmt: skip
        out.append(
            "<details><summary>configuration (as stored)</summary><pre>"
            + esc(json.dumps(cfg, indent=1, sort_keys=True, default=str))
            + "</pre></details>"
        )
    return "".join(out)


def _environments(envs: Mapping[str, dict]) -> str:
    if not envs:
        return '<p class="na">No environment recorded.</p>'
    keys = sorted({k for e in envs.values() for k in e})
    ids = sorted(envs)
    out = ["<table id='environment'><thead><tr><th class='l'>field</th>"]
    out += [f"<th class='l'><code>{esc(i)}</code></th>" for i in ids] + ["</tr></thead><tbody>"]
    for k in keys:
        out.append(
            f"<tr><td class='l'>{esc(k)}</td>"
            + "".join(f"<td class='l'>{esc(envs[i].get(k))}</td>" for i in ids)
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def render_page(
    *,
    data,
    cells: Sequence,
    failures: Sequence[dict],
    tradeoffs: Mapping[str, tuple[bytes, int]],
    grids: Mapping[int, bytes],
    grid_notes: Mapping[int, str],
    generated: str,
    version: str,
) -> str:
    """The report's HTML (see the module docstring)."""
    title = "leakjax report"
    names = [s["name"] for s in data.sweeps]
    if data.sweep:
        title += f": {data.sweep}"
    elif names:
        title += ": " + ", ".join(names)
    status_totals = dict.fromkeys(STATUSES, 0)
    for r in data.attack_rows:
        status_totals[r.get("status")] = status_totals.get(r.get("status"), 0) + 1
    lpips_any = any(c.stats["lpips"]["n"] for c in cells)
    defs = [
        "<li><b>Cell</b>: all runs with the same configuration except seed and victim.</li>",
        f"<li><b>Valid runs</b>: status {' or '.join(VALID_STATUSES)}; diverged and failed runs"
        " are counted apart (status counts below) and left out of every median.</li>",
        "<li><b>Median</b>: the lower median (for an even number of runs, the lower of the two "
        "middle values), so every median is a value some run reached.</li>",
        f"<li><b>Interval</b>: 95% percentile bootstrap of the lower median, {stats.RESAMPLES} "
        f"resamples, seed {stats.SEED}; its ends are values of the sample.</li>",
        f"<li><b>Success</b>: {esc(SUCCESS_DEFINITION)}</li>",
        "<li><b>PSNR, SSIM, MSE</b> on [0, 1] images, the mean over the run's B images "
        "(Hungarian-matched for B &gt; 1). <b>LPIPS</b> (VGG) is shown as <i>not computed</i> when "
        "the store has no value (never as 0)"
        + ("" if lpips_any else "; no run of this store has one")
        + ".</li>",
        "<li><b>Upload</b>: bits on the wire of one client update. <b>\u03b5</b>: DP-SGD's epsilon"
        " of the attacked round (\u03b4 in the rows; \u2014 = the defense has no DP accounting). "
        "<b>FedAvg acc.</b>: final test accuracy of the sweep's utility runs with the same "
        "defense (same structure and numbers) and placement.</li>",
    ]
    nav = "".join(
        f'<a href="#{a}">{esc(t)}</a>'
        for a, t in (
            ("cells-h", "cells"),
            ("tradeoffs", "trade-offs"),
            ("utility-h", "utility"),
            ("status-h", "status"),
            ("failures-h", "failures"),
            ("grids", "images"),
            ("config", "configuration"),
        )
    )
    trade = []
    for axis, caption in (
        ("bits", "Leakage against upload bits (communication)."),
        ("accuracy", "Leakage against FedAvg test accuracy (utility)."),
        ("epsilon", "Leakage against DP epsilon (formal privacy); only DP-accounted defenses "
                    "have a point, the dashed line is the undefended median."),
    ):  # fmt: skip
        png, drawn = tradeoffs[axis]
        note = "" if drawn else " No cell has a value on this axis."
        trade.append(
            f"<figure>{_img(png, 'trade-off: leakage against ' + axis)}<figcaption>"
            f"{esc(caption)} Median PSNR with its 95% bootstrap interval; one curve per "
            f"defense kind, points labelled by strength.{esc(note)}</figcaption></figure>"
        )
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p class='small muted'>store <code>{esc(data.path)}</code> (schema "
        f"{data.schema_version}) &middot; generated {esc(generated)} by leakjax {esc(version)}"
        f" &middot; {len(data.attack_rows)} attack runs in {len(cells)} cells, "
        f"{len(data.utility_rows)} utility runs &middot; "
        + ", ".join(f"{n} {esc(s)}" for s, n in status_totals.items())
        + "</p>",
        f"<nav class='small'>{nav}</nav>",
        f"<div class='defs'><ul>{''.join(defs)}</ul></div>",
        "<h2 id='cells-h'>Cells</h2>",
        _cell_table(cells) if cells else '<p class="na">No attack runs.</p>',
        _text_table(cells),
        "<h2 id='tradeoffs'>Privacy, utility and communication</h2>",
        "".join(trade),
        "<h2 id='utility-h'>Utility runs (FedAvg)</h2>",
        _utility_table(data.utility_rows),
        "<h2 id='status-h'>Status counts</h2>",
        _status_table(cells) if cells else "",
        "<h2 id='failures-h'>Failed and diverged runs</h2>",
        _failures(failures),
        "<h2 id='grids'>Reconstructions per cell</h2>",
        _grids(cells, grids, grid_notes),
        "<h2 id='config'>Sweep configuration</h2>",
        _sweeps(data.sweeps),
        "<h2 id='env'>Environment</h2>",
        _environments(data.environments),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style><script>{_JS}</script></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
