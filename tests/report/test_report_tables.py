"""Cell statistics of a hand-made store against hand computations (leakjax.report.tables)."""

import pytest
from report_fake_store import SWEEP

from leakjax.report.read import read_store
from leakjax.report.tables import (
    build_cells,
    cells_csv_rows,
    defense_identity,
    failures,
    kind_label,
)


@pytest.fixture(scope="module")
def cells(fake_store):
    with read_store(fake_store) as d:
        return {(c.attack, c.defense): c for c in build_cells(d.attack_rows, d.utility_rows)}


def test_cells_group_seeds_and_victims(cells):
    assert set(cells) == {
        ("dlg", "none"),
        ("dlg", "noise_var=0.01"),
        ("dlg", "dpsgd=1:1.1"),
        ("tag", "none"),
    }
    c = cells[("dlg", "none")]
    assert len(c.runs) == 6  # two seeds, six victims, one cell
    assert c.counts == {"converged": 2, "max_steps": 2, "diverged": 1, "failed": 1}
    assert len(c.valid) == 4


def test_lower_median_and_diverged_excluded(cells):
    s = cells[("dlg", "none")].stats["psnr"]
    # valid 10, 30, 20, 40: lower median 20 (25 would be the midpoint; 30 if the diverged
    # run's 99 dB entered)
    assert s["n"] == 4 and s["median"] == 20.0
    lo, hi = s["ci"]
    assert lo <= 20.0 <= hi and {lo, hi} <= {10.0, 20.0, 30.0, 40.0}
    assert cells[("dlg", "noise_var=0.01")].stats["psnr"]["median"] == 6.0
    assert cells[("dlg", "dpsgd=1:1.1")].stats["psnr"]["median"] == 12.0  # of 12, 14


def test_success_rate_counts_diverged_as_failed_attack_and_drops_failed(cells):
    # PSNR >= 20: 30, 20, 40 of 4 valid + 1 diverged; the failed run is left out
    assert cells[("dlg", "none")].success == (3, 5)
    assert cells[("dlg", "noise_var=0.01")].success == (0, 3)
    assert cells[("tag", "none")].success is None  # no PSNR: not defined


def test_lpips_not_computed_is_not_zero(cells):
    assert cells[("dlg", "none")].stats["lpips"] == dict(n=0, median=None, ci=None)
    s = cells[("dlg", "noise_var=0.01")].stats["lpips"]
    assert s["n"] == 3 and s["median"] == 0.5


def test_label_accuracy_bits_epsilon(cells):
    c = cells[("dlg", "none")]
    assert c.label_acc == pytest.approx(0.625)  # (1 + 1 + 0 + 0.5) / 4; diverged's 1 left out
    assert c.upload_bits == 1000.0
    assert c.epsilon is None
    assert cells[("dlg", "dpsgd=1:1.1")].epsilon == 3.0


def test_utility_matched_by_defense_not_by_spelling(cells):
    assert cells[("dlg", "none")].utility["accuracy"] == 0.9
    assert cells[("dlg", "noise_var=0.01")].utility["accuracy"] == 0.8  # stored as 1e-2
    u = cells[("dlg", "dpsgd=1:1.1")].utility
    assert u["accuracy"] == 0.5 and u["epsilon"] == 7.0 and u["n"] == 1
    assert defense_identity("noise_var=1e-2") == defense_identity("noise_var=0.01")
    assert defense_identity("noise_var=1e-2") != defense_identity("noise_var=1e-3")


def test_kinds_and_strengths(cells):
    c = cells[("dlg", "dpsgd=1:1.1")]
    assert c.kind == "dpsgd" and c.strength == (1.0, 1.1) and c.strength_label == "1:1.1"
    assert cells[("dlg", "none")].kind == "none"
    assert kind_label("clip=#,noise_std=#") == "clip,noise_std"
    assert kind_label("quant=int8") == "quant=int8"


def test_picks_best_median_worst_by_psnr(cells):
    p = cells[("dlg", "none")].picks()
    assert {k: r["psnr"] for k, r in p.items()} == {"best": 40.0, "median": 20.0, "worst": 10.0}
    assert cells[("tag", "none")].picks() == {}


def test_text_metrics_and_ranking(cells):
    c = cells[("tag", "none")]
    assert c.text["token_accuracy"]["median"] == 0.5  # of 0.25, 0.75, 0.5
    assert c.text["rouge1"]["median"] == pytest.approx(0.375)  # lists give their mean
    assert c.rank_text == "token_accuracy"
    assert c.text_strings == ["recovered", "true"]
    tp = c.text_picks()
    assert [tp[k]["metrics"]["text"]["token_accuracy"] for k in ("best", "median", "worst")] == [
        0.75,
        0.5,
        0.25,
    ]


def test_failures_list_errors(fake_store):
    with read_store(fake_store, sweep=SWEEP) as d:
        f = failures(d.attack_rows, d.utility_rows)
    by_id = {x["run_id"]: x for x in f}
    assert set(by_id) == {"run004", "run005", "util3"}
    assert by_id["run005"]["error"].startswith("ValueError: boom")
    assert by_id["run004"]["status"] == "diverged"
    assert "utility broke" in by_id["util3"]["error"] and "Traceback" in by_id["util3"]["error"]


def test_csv_rows(cells):
    rows = {(r["attack"], r["defense"]): r for r in cells_csv_rows(list(cells.values()))}
    r = rows[("dlg", "none")]
    assert r["psnr_median"] == 20.0 and r["psnr_n"] == 4 and r["lpips_median"] is None
    assert (r["success_k"], r["success_n"], r["diverged"], r["failed"]) == (3, 5, 1, 1)
    assert rows[("tag", "none")]["text_token_accuracy_median"] == 0.5
