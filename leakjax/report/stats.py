"""Robust cell statistics for reports: the lower median and its seeded bootstrap interval.

Every summary value a report prints is a value some run reached: the median of an even number
of runs is the *lower* median (the ``(n-1)//2``-th smallest, never the mean of the two middle
values), and the bootstrap interval's ends are order statistics of the resampled lower medians
(``method="lower"`` / ``"higher"`` quantiles), hence values of the sample too.

The interval is the percentile bootstrap (Efron & Tibshirani 1993, ch. 13): ``resamples``
samples of size n drawn with replacement from the n values by a NumPy generator seeded with
``seed``, so the same store always gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

#: Bootstrap resamples used by the report (seeded; see :func:`bootstrap_ci`).
RESAMPLES = 2000
#: Confidence level of the report's intervals.
LEVEL = 0.95
#: Seed of every bootstrap in a report.
SEED = 0
_BLOCK = 1 << 21


def finite_values(values: Iterable) -> np.ndarray:
    """The values that are numbers (``None`` and NaN dropped; +-inf kept, as a PSNR of a perfect
    reconstruction is +inf), as float64."""
    out = []
    for v in values:
        if v is None:
            continue
        f = float(v)
        if not math.isnan(f):
            out.append(f)
    return np.asarray(out, np.float64)


def lower_median(values: Iterable) -> float | None:
    """The ``(n-1)//2``-th smallest of the numeric ``values`` (the median for odd n, the lower of
    the two middle values for even n: a value some run reached); ``None`` when there are none."""
    x = np.sort(finite_values(values))
    if x.size == 0:
        return None
    return float(x[(x.size - 1) // 2])


def bootstrap_ci(
    values: Iterable,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> tuple[float, float] | None:
    """A percentile-bootstrap ``level`` interval of the lower median of ``values``.

    Args:
      values: numbers (``None``/NaN are dropped).
      resamples: bootstrap samples (each of size n, with replacement).
      level: coverage, in (0, 1).
      seed: the generator's seed (same values, same interval).

    Returns:
      ``(low, high)``, both values of the sample, or ``None`` for an empty sample.
    """
    if not isinstance(resamples, int) or isinstance(resamples, bool) or resamples < 1:
        raise ValueError(f"bootstrap_ci: resamples={resamples!r}, expected a positive integer")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: level={level!r}, expected a number in (0, 1)")
    x = finite_values(values)
    n = x.size
    if n == 0:
        return None
    if n == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    k = (n - 1) // 2
    rows = max(1, _BLOCK // n)  # resamples per block: memory stays ~_BLOCK values
    medians = np.concatenate(
        [
            np.partition(x[rng.integers(0, n, size=(min(rows, resamples - i), n))], k, axis=1)[:, k]
            for i in range(0, resamples, rows)
        ]
    )
    alpha = (1.0 - level) / 2.0
    low = np.quantile(medians, alpha, method="lower")
    high = np.quantile(medians, 1.0 - alpha, method="higher")
    return float(low), float(high)


def summarize(values: Iterable, **kw) -> dict:
    """``{"n", "median", "ci"}`` of the numeric ``values`` (see :func:`lower_median`,
    :func:`bootstrap_ci`)."""
    x = finite_values(values)
    return dict(n=int(x.size), median=lower_median(x), ci=bootstrap_ci(x, **kw))
