"""Cell statistics of a sweep: one :class:`Cell` per (attack, defense, strength) configuration.

A *cell* is every run whose configuration is the same except for the seed and the victim, i.e.
the repeats of one (attack + hyperparameters, model, data, threat model, defense spec and
placement). Per cell:

* **status counts** (converged, max_steps, diverged, failed). Only ``converged`` and
  ``max_steps`` runs enter medians and intervals; diverged and failed runs are counted apart.
* **PSNR, SSIM, MSE** (on [0, 1] images, mean over the run's B images) and **LPIPS** (VGG;
  ``None`` = not computed, never 0): the lower median (a value some run reached) and a seeded
  95% percentile-bootstrap interval (:mod:`leakjax.report.stats`).
* **success rate** (:data:`SUCCESS_DEFINITION`): runs with PSNR >= :data:`SUCCESS_PSNR_DB` dB
  over runs that produced a result (converged + max_steps + diverged; a diverged run is a
  failed attack; failed runs, whose program raised, are excluded).
* **label accuracy**: the mean over valid runs of each run's fraction of labels recovered
  (multiset match).
* **upload bits** (bits on the wire of one client update, lower median), **epsilon** (DP-SGD's
  epsilon of the attacked round; ``None`` for defenses without DP accounting).
* **FedAvg accuracy**: the final test accuracy of the utility runs whose defense is the same
  (same structure and numbers, so ``noise_var=1e-2`` matches ``noise_var=0.01``) with the
  same placement; lower median when several match.
* **text metrics**: numeric entries of ``metrics["text"]`` (token accuracy, ROUGE...), when the
  runs carry them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence

import numpy as np

from leakjax.report import stats

STATUSES = ("converged", "max_steps", "diverged", "failed")
#: Statuses whose runs enter medians and intervals.
VALID_STATUSES = ("converged", "max_steps")
#: A run succeeds when its PSNR (on [0, 1], mean over its B images) reaches this (dB).
SUCCESS_PSNR_DB = 20.0
SUCCESS_DEFINITION = (
    f"A run succeeds when its PSNR on [0, 1] images (mean over its B images) is at least "
    f"{SUCCESS_PSNR_DB:g} dB. Success rate = successes / (converged + max_steps + diverged "
    "runs): a diverged run counts as a failed attack; failed runs (the program raised) are "
    "left out."
)
#: The image metrics of a cell table: (row column, label, unit, higher is more leakage).
IMAGE_METRICS = (
    ("psnr", "PSNR", "dB", True),
    ("ssim", "SSIM", "", True),
    ("mse", "MSE", "", False),
    ("lpips", "LPIPS", "", False),
)
#: Preferred text metric for ranking text runs (first present wins, else the first numeric).
TEXT_RANK_ORDER = ("token_accuracy", "rouge1", "rougeL", "rouge2", "bleu")


@dataclasses.dataclass
class Cell:
    """The runs of one configuration and their statistics (see the module docstring)."""

    index: int
    key: str
    attack: str
    scenario: str
    defense: str
    placement: str | None
    kind: str
    skeleton: str
    strength: tuple
    strength_label: str
    runs: list
    counts: dict
    valid: list
    stats: dict
    success: tuple | None
    label_acc: float | None
    upload_bits: float | None
    epsilon: float | None
    utility: dict
    text: dict
    text_strings: list
    rank_text: str | None

    @property
    def label(self) -> str:
        return f"{self.scenario} | {self.defense_label}"

    @property
    def defense_label(self) -> str:
        return self.defense + (f" @{self.placement}" if self.placement else "")

    def picks(self) -> dict:
        """The valid runs with the best, median (lower) and worst PSNR: ``{"best": row, ...}``
        (empty without PSNR values). The median run's PSNR equals the cell's median PSNR."""
        ranked = sorted(
            (r for r in self.valid if _num(r.get("psnr")) is not None),
            key=lambda r: (float(r["psnr"]), str(r.get("run_id"))),
        )
        if not ranked:
            return {}
        return {
            "best": ranked[-1],
            "median": ranked[(len(ranked) - 1) // 2],
            "worst": ranked[0],
        }

    def text_picks(self) -> dict:
        """Like :meth:`picks`, ranked by the cell's text metric :attr:`rank_text`."""
        if self.rank_text is None:
            return {}
        ranked = sorted(
            (r for r in self.valid if _num(_text(r).get(self.rank_text)) is not None),
            key=lambda r: (_num(_text(r)[self.rank_text]), str(r.get("run_id"))),
        )
        if not ranked:
            return {}
        return {
            "best": ranked[-1],
            "median": ranked[(len(ranked) - 1) // 2],
            "worst": ranked[0],
        }


def _num(v) -> float | None:
    """A float of ``v`` when it is a real number (not bool, not NaN), else ``None``."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
        return None if math.isnan(f) else f
    return None


def _text(row: dict) -> dict:
    m = row.get("metrics")
    t = m.get("text") if isinstance(m, dict) else None
    return t if isinstance(t, dict) else {}


def text_numbers(row: dict) -> dict:
    """The numeric entries of ``metrics["text"]`` (a list of numbers gives its mean)."""
    out = {}
    for k, v in _text(row).items():
        f = _num(v)
        if f is None and isinstance(v, list) and v and all(_num(x) is not None for x in v):
            f = float(np.mean([_num(x) for x in v]))
        if f is not None:
            out[k] = f
    return out


def text_strings(row: dict) -> dict:
    """The string entries of ``metrics["text"]`` (a list of strings joined by newlines)."""
    out = {}
    for k, v in _text(row).items():
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            out[k] = "\n".join(v)
    return out


def defense_identity(spec: str | None) -> tuple:
    """A key under which equal defenses meet: ``(skeleton, numbers)`` of
    :func:`leakjax.defenses.spec.defense_numbers` (``"noise_var=1e-2"`` and
    ``"noise_var=0.01"`` are the same defense); the spec itself when it cannot be parsed."""
    from leakjax.defenses.spec import defense_numbers

    try:
        skeleton, numbers = defense_numbers(spec if spec is not None else "none")
    except Exception:  # noqa: BLE001 - a spec this version cannot parse is kept as text
        return (str(spec), ())
    return (skeleton, tuple(float(repr(float(x))) for x in numbers))


def kind_label(skeleton: str) -> str:
    """A defense kind for legends: the skeleton without its ``=#`` placeholders
    (``"prune=#"`` -> ``"prune"``, ``"clip=#,noise_std=#"`` -> ``"clip,noise_std"``)."""
    parts = []
    for item in skeleton.split(","):
        name, _, value = item.partition("=")
        if value and all(p == "#" for p in value.split(":")):
            parts.append(name)
        else:
            parts.append(item)
    return ",".join(parts)


def _flatten(obj, prefix="") -> dict:
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = json.dumps(obj, sort_keys=True) if isinstance(obj, list) else obj
    return out


_CELL_EXCLUDE = ("seed", "victim")


def _cell_config(row: dict) -> dict:
    c = row.get("config")
    if not isinstance(c, dict) or not c:
        # a row without a parsed configuration: its columns define the cell
        c = {k: row.get(k) for k in ("attack", "model", "data", "threat", "batch_size")}
        c["defense"] = {"spec": row.get("defense"), "placement": row.get("placement")}
    return {k: v for k, v in c.items() if k not in _CELL_EXCLUDE}


def _scenario_labels(configs: Sequence[dict]) -> list[str]:
    """Per cell: the attack name plus every other setting (not the defense) that varies
    across cells, as ``key=value``."""
    flats = [_flatten({k: v for k, v in c.items() if k != "defense"}) for c in configs]
    keys = sorted({k for f in flats for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]
    out = []
    for f in flats:
        name = f.get("attack.name", f.get("attack"))
        extra = [f"{k}={f.get(k)}" for k in varying if k not in ("attack.name", "attack")]
        out.append(str(name) + (f" ({', '.join(extra)})" if extra else ""))
    return out


def _strength(spec: str) -> tuple[tuple, str]:
    from leakjax.defenses.spec import defense_numbers

    try:
        _, numbers = defense_numbers(spec)
    except Exception:  # noqa: BLE001
        return (), spec
    return tuple(float(x) for x in numbers), ":".join(f"{x:g}" for x in numbers) or "-"


def _utility_index(utility_rows: Iterable[dict]) -> dict:
    index: dict = {}
    for r in utility_rows:
        key = (defense_identity(r.get("defense")), r.get("placement"))
        index.setdefault(key, []).append(r)
    return index


def _utility_summary(rows: list[dict]) -> dict:
    ok = [r for r in rows if r.get("status") != "failed"]
    acc = [_num(r.get("accuracy")) for r in ok]
    eps = [_num(r.get("epsilon")) for r in ok]
    return dict(
        n=len(ok),
        failed=len(rows) - len(ok),
        accuracy=stats.lower_median(acc),
        epsilon=stats.lower_median(eps),
        upload_bits=stats.lower_median(_num(r.get("upload_bits")) for r in ok),
        run_ids=[r.get("run_id") for r in rows],
    )


def build_cells(
    attack_rows: Sequence[dict], utility_rows: Sequence[dict] = (), **bootstrap
) -> list[Cell]:
    """Group ``attack_rows`` into cells and compute their statistics (module docstring).

    Args:
      attack_rows: store rows (``config``/``metrics`` parsed), e.g.
        :attr:`leakjax.report.read.ReportData.attack_rows`.
      utility_rows: utility rows, matched to cells by defense and placement.
      bootstrap: keyword arguments of :func:`leakjax.report.stats.bootstrap_ci`.

    Returns:
      Cells sorted by scenario, then defense kind (``none`` first), then strength.
    """
    groups: dict[str, list[dict]] = {}
    configs: dict[str, dict] = {}
    for r in attack_rows:
        cfg = _cell_config(r)
        key = json.dumps(cfg, sort_keys=True, default=str)
        groups.setdefault(key, []).append(r)
        configs[key] = cfg
    keys = list(groups)
    scen = dict(zip(keys, _scenario_labels([configs[k] for k in keys])))
    uindex = _utility_index(utility_rows)
    cells = []
    for key in keys:
        runs = groups[key]
        r0 = runs[0]
        spec = r0.get("defense") or "none"
        ident = defense_identity(spec)
        skeleton = r0.get("defense_kind") or ident[0]
        strength, strength_label = _strength(spec)
        counts = {s: 0 for s in STATUSES}
        for r in runs:
            s = r.get("status") or "failed"
            counts[s] = counts.get(s, 0) + 1
        valid = [r for r in runs if r.get("status") in VALID_STATUSES]
        st = {
            col: stats.summarize((_num(r.get(col)) for r in valid), **bootstrap)
            for col, *_ in IMAGE_METRICS
        }
        attempted = [r for r in runs if r.get("status") in (*VALID_STATUSES, "diverged")]
        psnrs = [_num(r.get("psnr")) for r in valid]
        if any(p is not None for p in psnrs):
            wins = sum(1 for p in psnrs if p is not None and p >= SUCCESS_PSNR_DB)
            success = (wins, len(attempted))
        else:
            success = None
        la = [_num(r.get("label_acc")) for r in valid]
        la = [x for x in la if x is not None]
        text_vals: dict[str, list] = {}
        strings: list[str] = []
        for r in valid:
            for k, v in text_numbers(r).items():
                text_vals.setdefault(k, []).append(v)
            for k in text_strings(r):
                if k not in strings:
                    strings.append(k)
        text = {k: stats.summarize(v, **bootstrap) for k, v in text_vals.items()}
        rank = next((k for k in TEXT_RANK_ORDER if k in text), next(iter(sorted(text)), None))
        placement = r0.get("placement")
        cells.append(
            Cell(
                index=0,
                key=key,
                attack=str(r0.get("attack")),
                scenario=scen[key],
                defense=spec,
                placement=placement,
                kind=kind_label(skeleton),
                skeleton=skeleton,
                strength=strength,
                strength_label=strength_label,
                runs=runs,
                counts=counts,
                valid=valid,
                stats=st,
                success=success,
                label_acc=float(np.mean(la)) if la else None,
                upload_bits=stats.lower_median(_num(r.get("upload_bits")) for r in valid),
                epsilon=stats.lower_median(_num(r.get("epsilon")) for r in valid),
                utility=_utility_summary(uindex.get((ident, placement), [])),
                text=text,
                text_strings=strings,
                rank_text=rank,
            )
        )
    cells.sort(key=lambda c: (c.scenario, c.kind != "none", c.kind, c.strength, c.defense))
    for i, c in enumerate(cells):
        c.index = i + 1
    return cells


def failures(attack_rows: Sequence[dict], utility_rows: Sequence[dict] = ()) -> list[dict]:
    """The failed and diverged runs: ``{run_id, kind, attack, defense, seed, victim, status,
    error}`` where ``error`` is ``metrics["error"]`` (the first line of which is the message)
    or, for a diverged run, a note on its loss."""
    out = []
    for r in [*attack_rows, *utility_rows]:
        status = r.get("status")
        if status not in ("failed", "diverged"):
            continue
        m = r.get("metrics") if isinstance(r.get("metrics"), dict) else {}
        err = m.get("error")
        if err is None and status == "diverged":
            loss = r.get("loss")
            err = f"non-finite loss or reconstruction (final loss {loss})"
        if err is None:
            err = "no error recorded"
        if m.get("traceback") and m["traceback"] not in str(err):
            err = f"{err}\n{m['traceback']}"
        out.append(
            dict(
                run_id=r.get("run_id"),
                kind=r.get("kind"),
                attack=r.get("attack"),
                defense=r.get("defense"),
                seed=r.get("seed"),
                victim=r.get("victim"),
                status=status,
                error=str(err),
            )
        )
    return out


def cells_csv_rows(cells: Sequence[Cell]) -> list[dict]:
    """One flat dict per cell (for ``cells.csv``): medians, interval ends, counts."""
    out = []
    for c in cells:
        row = dict(
            cell=c.index,
            scenario=c.scenario,
            attack=c.attack,
            defense=c.defense,
            placement=c.placement or "",
            kind=c.kind,
            strength=c.strength_label,
            runs=len(c.runs),
            **{s: c.counts.get(s, 0) for s in STATUSES},
        )
        for col, *_ in IMAGE_METRICS:
            s = c.stats[col]
            row[f"{col}_median"] = s["median"]
            row[f"{col}_ci_low"] = s["ci"][0] if s["ci"] else None
            row[f"{col}_ci_high"] = s["ci"][1] if s["ci"] else None
            row[f"{col}_n"] = s["n"]
        row["success_k"] = c.success[0] if c.success else None
        row["success_n"] = c.success[1] if c.success else None
        row["label_acc_mean"] = c.label_acc
        row["upload_bits"] = c.upload_bits
        row["epsilon"] = c.epsilon
        row["fedavg_accuracy"] = c.utility["accuracy"]
        row["fedavg_runs"] = c.utility["n"]
        for k, s in sorted(c.text.items()):
            row[f"text_{k}_median"] = s["median"]
        out.append(row)
    return out
