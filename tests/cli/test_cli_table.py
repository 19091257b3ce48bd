"""Issue 14.3: the summary table cannot be misread."""

from leakjax.cli.table import cell_stats, lower_median, summary_table


def _row(status, psnr, seconds=1.0, attack="ig", defense="none", acc=1.0, strategy="threads"):
    return dict(attack=attack, defense=defense, status=status, psnr=psnr, ssim=0.5, mse=0.01,
                label_acc=acc, seconds=seconds, metrics={"strategy": strategy})  # fmt: skip


def test_even_count_median_is_a_value_a_run_reached():
    assert lower_median([10.0, 30.0]) == 10.0
    assert lower_median([3.0, 1.0, 2.0, None, float("nan")]) == 2.0
    st = cell_stats([_row("max_steps", 10.0), _row("max_steps", 30.0)])
    assert st["psnr"] == 10.0  # not 20.0, which no run reached


def test_diverged_runs_are_counted_apart_and_left_out_of_medians():
    rows = [_row("converged", 25.0), _row("max_steps", 15.0), _row("max_steps", 30.0),
            _row("diverged", 10.8, acc=1.0), _row("failed", None, seconds=None)]  # fmt: skip
    st = cell_stats(rows)
    assert st["counts"] == {"converged": 1, "max_steps": 2, "diverged": 1, "failed": 1}
    assert st["psnr"] == 25.0  # median of 15, 25, 30; the diverged 10.8 is out
    assert st["successes"] == 2 and st["success_rate"] == 2 / 4  # diverged = a miss; failed out
    assert st["stalled"] == 1
    text = summary_table(rows)
    header, line = text.splitlines()[:2]
    for col in ("converged", "max_steps", "diverged", "failed", "success(>=20dB)", "stalled"):
        assert col in header
    assert "50% (2)" in line and "25.0dB" in line and "10.8" not in line


def test_seconds_are_each_runs_own_time_and_vmap_is_marked():
    rows = [_row("max_steps", 5.0, seconds=s) for s in (1.0, 2.0, 9.0)]
    assert cell_stats(rows)["seconds"] == 2.0
    assert "each run's own time" in summary_table(rows)
    vm = [_row("max_steps", 5.0, strategy="vmap")]
    assert "chunk's time / its runs" in summary_table(vm)


def test_one_line_per_attack_and_defense():
    rows = [_row("max_steps", 5.0, attack="idlg"), _row("max_steps", 5.0, attack="dlg"),
            _row("max_steps", 5.0, attack="dlg", defense="prune=0.9")]  # fmt: skip
    body = summary_table(rows).splitlines()[1:4]
    assert [ln.split()[:2] for ln in body] == [["idlg", "none"], ["dlg", "none"], ["dlg", "prune=0.9"]]
