"""Lower median and seeded bootstrap interval (leakjax.report.stats)."""

import math

import numpy as np
import pytest

from leakjax.report.stats import bootstrap_ci, finite_values, lower_median, summarize


def test_lower_median_is_a_value_of_the_sample():
    assert lower_median([4.0, 1.0, 3.0, 2.0]) == 2.0  # not 2.5
    assert lower_median([5.0, 1.0, 3.0]) == 3.0
    assert lower_median([7.0]) == 7.0
    assert lower_median([]) is None
    assert lower_median([None, float("nan")]) is None
    assert lower_median([None, 3.0, float("nan"), 1.0]) == 1.0  # missing values dropped
    assert lower_median([1.0, math.inf]) == 1.0 and lower_median([math.inf]) == math.inf


def test_finite_values_keeps_infinity_drops_missing():
    np.testing.assert_array_equal(finite_values([1, None, float("nan"), math.inf]), [1, math.inf])


def _reference_ci(x, resamples, seed, level=0.95):
    """The definition, written as a loop: resample, lower median, order statistics."""
    x = np.asarray(x, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    meds = []
    for row in idx:
        s = sorted(x[row])
        meds.append(s[(len(s) - 1) // 2])
    meds = np.sort(meds)
    a = (1 - level) / 2
    lo = meds[int(math.floor(a * (resamples - 1)))]
    hi = meds[int(math.ceil((1 - a) * (resamples - 1)))]
    return float(lo), float(hi)


def test_bootstrap_matches_the_definition_and_is_seeded():
    x = [3.1, 0.5, 9.0, 4.4, 2.2, 7.7, 5.0, 1.0, 6.3]
    ci = bootstrap_ci(x, resamples=500, seed=3)
    assert ci == _reference_ci(x, 500, 3)
    assert bootstrap_ci(x, resamples=500, seed=3) == ci  # same seed, same interval
    lo, hi = ci
    assert lo in x and hi in x  # ends are values some run reached
    med = lower_median(x)
    assert lo <= med <= hi
    assert lo < hi


def test_bootstrap_in_blocks_equals_one_block(monkeypatch):
    """Large samples are resampled block by block (bounded memory): same interval."""
    from leakjax.report import stats

    x = np.random.default_rng(1).normal(size=57)
    whole = bootstrap_ci(x, resamples=301, seed=5)
    monkeypatch.setattr(stats, "_BLOCK", 57 * 7)  # 7 resamples per block, 301 = 43 blocks
    assert bootstrap_ci(x, resamples=301, seed=5) == whole == _reference_ci(x, 301, 5)


def test_bootstrap_small_samples():
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    lo, hi = bootstrap_ci([1.0, 2.0])  # lower medians of resamples are 1 or 2
    assert (lo, hi) == (1.0, 2.0)


def test_bootstrap_interval_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    small = rng.normal(20, 5, size=8)
    large = rng.normal(20, 5, size=400)
    w_small = np.subtract(*bootstrap_ci(small)[::-1])
    w_large = np.subtract(*bootstrap_ci(large)[::-1])
    assert w_large < w_small / 2


@pytest.mark.parametrize(
    "kw, match",
    [(dict(resamples=0), "resamples=0"), (dict(level=1.0), "level=1.0")],
)
def test_bootstrap_errors_name_the_argument(kw, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci([1.0, 2.0], **kw)


def test_summarize():
    s = summarize([1.0, None, 3.0, 2.0, 4.0])
    assert s["n"] == 4 and s["median"] == 2.0 and s["ci"][0] <= 2.0 <= s["ci"][1]
    assert summarize([]) == dict(n=0, median=None, ci=None)
