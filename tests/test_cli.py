"""The ``leakjax`` command: outputs, records and clear errors."""

import json

import jax
import numpy as np
import pytest
from PIL import Image

from leakjax.cli import main


def test_attack_on_image_files_writes_results_and_grid(tmp_path, capsys):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(2):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    out = tmp_path / "out"
    rc = main(
        [
            "attack",
            "--attack",
            "idlg",
            "--data",
            *paths,
            "--labels",
            "3,7",
            "--num-classes",
            "10",
            "--steps",
            "2",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--strategy",
            "vmap",
        ]
    )
    assert rc == 0
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 4
    keys = {"image", "seed", "attack", "mse", "psnr", "ssim", "label_correct", "status", "seconds"}
    assert keys <= set(records[0])
    assert {r["true_label"] for r in records} == {3, 7}
    assert all(r["label_correct"] for r in records)  # iDLG's analytic label
    assert (out / "grid.png").stat().st_size > 1000


def test_errors_name_the_argument(tmp_path, capsys):
    with pytest.raises(SystemExit, match="--labels is required"):
        main(["attack", "--data", str(tmp_path / "a.png"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--data='mnist_typo'"):
        main(["attack", "--data", "mnist_typo", "--out", str(tmp_path)])
    rc = main(
        [
            "attack",
            "--data",
            str(tmp_path / "missing.png"),
            "--labels",
            "1",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert rc == 2
    assert "missing.png" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--attack='nope'"):
        main(
            [
                "attack",
                "--attack",
                "nope",
                "--data",
                "digits",
                "--num-images",
                "1",
                "--steps",
                "1",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
    with pytest.raises(SystemExit):
        main(["attack", "--steps", "0"])
    assert "--steps='0'" in capsys.readouterr().err


def test_train_generator_then_ggl_attack(tmp_path, capsys):
    ckpt = tmp_path / "g.msgpack"
    rc = main(
        [
            "train-generator",
            "--dataset",
            "digits",
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--latent-dim",
            "4",
            "--width",
            "2",
            "--out",
            str(ckpt),
            "--quiet",
        ]
    )
    assert rc == 0 and ckpt.stat().st_size > 0
    history = json.loads((tmp_path / "g_history.json").read_text())
    assert history["wall_time_s"] > 0
    out = tmp_path / "out"
    common = ["--num-images", "1", "--steps", "2", "--quiet", "--generator", str(ckpt)]
    rc = main(
        ["attack", "--attack", "ggl", "--data", "digits", "--population-size", "4"]
        + common
        + ["--out", str(out)]
    )
    assert rc == 0
    (record,) = json.loads((out / "results.json").read_text())
    assert record["attack"] == "ggl" and np.isfinite(record["mse"])
    # a generator of 28x28x1 images cannot feed a 32x32x3 model
    capsys.readouterr()
    bad = ["attack", "--attack", "ggl", "--data", "photos", "--out", str(tmp_path / "o2")]
    assert main(bad + common) == 2
    assert "generates images of shape (28, 28, 1)" in capsys.readouterr().err


def test_ig_on_a_fedavg_update_from_the_cli(tmp_path):
    out = tmp_path / "fedavg"
    common = ["attack", "--attack", "ig", "--data", "digits", "--num-images", "1"]
    common += ["--steps", "3", "--out", str(out), "--quiet", "--local-epochs", "3"]
    rc = main([*common, "--labels-known", "--local-lr", "0.01", "--tv", "1e-4"])
    assert rc == 0
    records = json.loads((out / "results.json").read_text())
    assert records[0]["local_epochs"] == 3
    assert records[0]["status"] in ("max_steps", "converged")
    assert np.isfinite(records[0]["psnr"])
    with pytest.raises(SystemExit, match="--local-epochs=3: the multi-step attack needs"):
        main(common)
    with pytest.raises(SystemExit, match="--attack='idlg'"):
        main([*common[:2], "idlg", *common[3:], "--labels-known"])


def test_ig_preset_flag_builds_the_reference_attack():
    from leakjax import models
    from leakjax.cli import build_attack, build_parser, default_steps
    from leakjax.types import DataSpec

    spec = DataSpec("t", (8, 8, 1), 4)
    m = models.mlp(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4, hidden=(4,))
    parse = build_parser().parse_args
    args = parse(["attack", "--attack", "ig", "--preset", "breaching"])
    assert default_steps(args) == 24000  # the preset's max_steps
    assert build_attack("ig", m, spec, args).select == "best"
    args = parse(["attack", "--attack", "ig", "--preset", "inversefed", "--steps", "7"])
    assert default_steps(args) == 7 and build_attack("ig", m, spec, args).select == "last"
    assert default_steps(parse(["attack", "--attack", "ig"])) == 1000  # leakjax's own default
    with pytest.raises(SystemExit, match="--labels-known"):
        build_attack("ig", m, spec, parse(["attack", "--attack", "ig", "--preset", "plato"]))
    with pytest.raises(SystemExit, match="is for --attack ig"):
        build_attack("dlg", m, spec, parse(["attack", "--attack", "dlg", "--preset", "plato"]))
