"""Issue 11 (CLI): ``leakjax sweep CONFIG`` (dry run, run, resume), ``leakjax export --csv`` and
``leakjax report``."""

import csv
import io
import textwrap

from leakjax.cli import main

SWEEP = textwrap.dedent(
    """
    from leakjax.sweep import Attack, Data, Defense, Model, Sweep, Threat, axis, product, seeds
    TINY = globals().get("TINY", False)
    SWEEP = Sweep("cli-tiny", runs=product(
        axis("attack", [Attack("ig", steps=2)]),
        axis("model", [Model("mlp", num_classes=4, hidden=[8])]),
        axis("data", [Data("random", victims=1 if TINY else 2, image_shape=(4, 4, 1),
                           num_classes=4)]),
        axis("threat", [Threat(labels="given")]),
        axis("defense", Defense.grid("noise_std", [0.0, 0.01])),
        seeds(2)))
    """
)


def test_sweep_dry_run_run_resume_export_and_report(tmp_path, capsys):
    cfg = tmp_path / "s.py"
    cfg.write_text(SWEEP)
    store = str(tmp_path / "s.sqlite")
    assert main(["sweep", str(cfg), "--store", store, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 runs" in out and "1 compiled group" in out and "MiB per run" in out
    assert "0 already in the store" in out
    assert main(["sweep", str(cfg), "--store", store, "--tiny", "--dry-run", "--no-compile"]) == 0
    assert "4 runs" in capsys.readouterr().out
    assert main(["sweep", str(cfg), "--store", store]) == 0
    out = capsys.readouterr()
    assert "ig" in out.out and "noise_std=0.01" in out.out  # the table, one line per defense
    # resuming a finished sweep runs nothing; the dry run sees every run in the store
    assert main(["sweep", str(cfg), "--store", store, "--quiet"]) == 0
    assert main(["sweep", str(cfg), "--store", store, "--dry-run"]) == 0
    assert "8 already in the store, 0 to run" in capsys.readouterr().out
    assert main(["export", store, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 8 and {r["status"] for r in rows} <= {"converged", "max_steps"}
    assert main(["export", store, "--csv", str(tmp_path / "runs.csv")]) == 0
    assert len((tmp_path / "runs.csv").read_text().splitlines()) == 9
    assert main(["report", store, "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "index.html").stat().st_size > 1000
    assert "index.html" in capsys.readouterr().out
