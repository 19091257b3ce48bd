"""Issue 14.1/14.3: ``leakjax attack`` is a single-cell sweep into OUT/store.sqlite; results.json,
grid.png and the table come from the store; a second run of the same command resumes."""

import json
import os
import sqlite3

import numpy as np
import pytest
from PIL import Image

from leakjax.cli import main

TINY = ["--model", "mlp", "--width", "8", "--steps", "2", "--quiet"]


def _rows(store):
    with sqlite3.connect(store) as c:
        return c.execute("SELECT run_id, status, created FROM runs ORDER BY run_id").fetchall()


def test_attack_on_image_files_writes_store_results_and_grid(tmp_path, capsys):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    out = tmp_path / "out"
    argv = ["attack", "--attack", "idlg", "--data", *paths, "--labels", "3,7", "--num-classes",
            "10", "--image-shape", "8,8,3", "--seeds", "2", "--out", str(out), *TINY]  # fmt: skip
    assert main(argv) == 0
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 4
    assert {r["true_label"] for r in records} == {3, 7}
    # every record says which victim it attacked (issue 10.3): the file and its index
    assert {(r["image"], os.path.basename(str(r["source"]))) for r in records} == {
        (0, "img0.png"), (1, "img1.png")}  # fmt: skip
    assert all(r["label_correct"] for r in records)  # iDLG's analytic label
    assert all(r["status"] in ("converged", "max_steps") for r in records)  # names, not codes
    assert (out / "grid.png").stat().st_size > 1000
    stored = _rows(out / "store.sqlite")
    assert sorted(r["run_id"] for r in records) == [r[0] for r in stored]
    # the same command again resumes: nothing is rerun (rows keep their creation times)
    assert main(argv[:-1]) == 0  # without --quiet: the table and a note
    out_text = capsys.readouterr()
    assert "all 4 runs were already in" in out_text.err
    assert _rows(out / "store.sqlite") == stored
    assert "max_steps" in out_text.out and "success(>=20dB)" in out_text.out


def test_demo_is_idlg_and_dlg_in_dlg_setting_on_different_photos():
    from leakjax.cli.attack import demo_sweep

    cells = demo_sweep(4, 300).cells()
    assert [(c["attack"].name, c["attack"].steps) for c in cells] == [("idlg", 300), ("dlg", 300)]
    assert all(c["model"].name == "lenet" and c["model"].kwargs == {"num_classes": 100} for c in cells)
    d = cells[0]["data"]
    assert (d.name, d.split, d.victims, d.batch_size) == ("photos", "private", 4, 1)
    from leakjax import data

    assert len(set(data.load_embedded("photos", split="private").labels[:4])) == 4


def test_ig_on_a_fedavg_update(tmp_path):
    out = tmp_path / "fedavg"
    argv = ["attack", "--attack", "ig", "--data", "digits", "--num-images", "1", "--out",
            str(out), "--local-epochs", "3", "--labels-known", "--local-lr", "0.01", "--tv",
            "1e-4", *TINY]  # fmt: skip
    assert main(argv) == 0
    (rec,) = json.loads((out / "results.json").read_text())
    assert rec["local_epochs"] == 3 and rec["steps"] == 2
    assert rec["status"] in ("max_steps", "converged") and np.isfinite(rec["psnr"])


def test_train_generator_then_ggl(tmp_path, capsys):
    ckpt = tmp_path / "g.msgpack"
    argv = ["train-generator", "--dataset", "digits", "--steps", "2", "--batch-size", "4",
            "--latent-dim", "4", "--width", "2", "--out", str(ckpt), "--quiet"]  # fmt: skip
    assert main(argv) == 0 and ckpt.stat().st_size > 0
    assert json.loads((tmp_path / "g_history.json").read_text())["wall_time_s"] > 0
    common = ["--attack", "ggl", "--num-images", "1", "--population-size", "4", "--generator",
              str(ckpt), *TINY]  # fmt: skip
    assert main(["attack", "--data", "digits", "--out", str(tmp_path / "o"), *common]) == 0
    (rec,) = json.loads((tmp_path / "o" / "results.json").read_text())
    assert rec["attack"] == "ggl" and np.isfinite(rec["mse"])
    capsys.readouterr()
    # a generator of 28x28x1 images cannot feed photos (32x32x3): refused before any work
    assert main(["attack", "--data", "photos", "--out", str(tmp_path / "o2"), *common]) == 2
    err = capsys.readouterr().err
    assert "--generator" in err and "(28, 28, 1)" in err
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("preset,steps,select", [("breaching", 24000, "best")])
def test_ig_preset_sets_steps_and_hyperparameters(preset, steps, select):
    from leakjax.cli import build_parser
    from leakjax.cli.attack import build_attack_sweep, default_steps

    args = build_parser().parse_args(["attack", "--attack", "ig", "--preset", preset])
    assert default_steps(args) == steps
    cell = build_attack_sweep(args).cells()[0]
    assert cell["attack"].hp == {"preset": preset} and cell["attack"].steps == steps
    args = build_parser().parse_args(["attack", "--attack", "ig", "--preset", preset, "--steps", "7"])
    assert build_attack_sweep(args).cells()[0]["attack"].steps == 7
    assert default_steps(build_parser().parse_args(["attack", "--attack", "ig"])) == 1000
