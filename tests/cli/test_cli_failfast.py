"""Issue 14.2: every bad argument is refused before any work, in the same form
(``leakjax <command>: error: ...``, exit code 2), naming the flag the user typed."""

import os
import time

import pytest

from leakjax.cli import build_parser, main

pytest.importorskip("tqdm")


@pytest.fixture(scope="module", autouse=True)
def _warm():
    build_parser()  # imports the registries once, so each case times only its own checks


def _fails(argv, capsys, *needles):
    """Run ``leakjax ARGV``; assert exit 2 within 5 s, one error line naming ``needles``."""
    t0 = time.perf_counter()
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    dt = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2, err
    assert dt < 5.0, f"{argv} took {dt:.1f}s to fail"
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and line[0].startswith(f"leakjax {argv[0]}: error: "), err
    for n in needles:
        assert n in err, (n, err)
    assert "Traceback" not in err
    return err


def test_out_is_an_existing_file(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("x")
    _fails(["attack", "--out", str(f)], capsys, "--out", "is an existing file")


def test_out_below_a_file(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("x")
    _fails(["attack", "--out", str(f / "sub")], capsys, "--out", "is a file")


def test_out_cannot_be_written(tmp_path, capsys):
    target = "/proc/leakjax-cannot-write-here"  # not writable even for root
    _fails(["attack", "--out", target], capsys, "--out", "cannot create a folder in /proc")
    assert not os.path.exists(target)


def test_unknown_attack(tmp_path, capsys):
    _fails(["attack", "--attack", "nope", "--out", str(tmp_path / "o")], capsys, "--attack", "nope")
    assert not (tmp_path / "o").exists()


def test_unknown_model_and_dataset(tmp_path, capsys):
    _fails(["attack", "--model", "vgg99"], capsys, "--model", "vgg99")
    _fails(["attack", "--data", "mnist_typo", "--out", str(tmp_path / "o")], capsys,
           "--data mnist_typo", "not an embedded dataset")  # fmt: skip


@pytest.mark.parametrize(
    "flag,value",
    [("--local-lr", "inf"), ("--local-lr", "1e30"), ("--local-lr", "0"), ("--tv", "nan"),
     ("--tv", "-1"), ("--local-momentum", "1"), ("--lbfgs-lr", "inf")],
)  # fmt: skip
def test_non_finite_or_out_of_range_numbers(flag, value, capsys):
    err = _fails(["attack", flag, value], capsys, f"{flag} {value}", "expected a finite number")
    assert "usage:" in err  # argparse's own format: usage line, then the error


def test_defense_with_a_non_finite_number(tmp_path, capsys):
    _fails(["attack", "--defense", "noise_std=inf", "--out", str(tmp_path / "o")], capsys,
           "--defense noise_std=inf")  # fmt: skip
    _fails(["attack", "--defense", "prune=1.5", "--out", str(tmp_path / "o")], capsys,
           "--defense prune=1.5", "prune=FRACTION_ZEROED")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_optimizer_is_named_as_typed(capsys):
    err = _fails(["attack", "--attack", "ggl", "--optimizer", "foo"], capsys, "--optimizer", "foo")
    assert "strategy=" not in err


def test_default_model_does_not_fit_gradinversion(tmp_path, capsys):
    err = _fails(["attack", "--attack", "gradinversion", "--out", str(tmp_path / "o")], capsys,
                 "--attack gradinversion with --model lenet", "BatchNorm", "--model convnet")  # fmt: skip
    assert "bn_weight is set" not in err


def test_analytic_attack_needs_an_fc_first_layer(tmp_path, capsys):
    _fails(["attack", "--attack", "analytic_fc", "--out", str(tmp_path / "o")], capsys,
           "--model lenet", "--model mlp")  # fmt: skip


def test_tfds_dataset_not_prepared_says_how(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    _fails(["attack", "--data", "cifar10", "--out", str(tmp_path / "o")], capsys,
           "--data cifar10", "must be prepared", "download_and_prepare", "array_record")  # fmt: skip


@pytest.mark.parametrize(
    "extra,needles",
    [
        (["--attack", "dlg", "--labels-known"], ["--labels-known with --attack dlg", "idlg"]),
        (["--attack", "idlg", "--local-epochs", "3"], ["--local-epochs 3 with --attack idlg"]),
        (["--attack", "ig", "--local-epochs", "3"], ["add --labels-known"]),
        (["--attack", "dlg", "--preset", "plato"], ["--preset plato: is for --attack ig"]),
        (["--attack", "ig", "--preset", "plato"], ["--labels-known"]),
        (["--attack", "dlg", "--tv", "0.1"], ["--tv 0.1: is for --attack ig"]),
        (["--attack", "ggl"], ["--attack ggl needs --generator"]),
        (["--placement", "step"], ["--placement step: only for a multi-step client"]),
        (["--data", "photos", "--labels", "1"], ["--labels 1: only for image files"]),
        (["--data", "photos", "--split", "train"], ["--split train"]),
        (["--num-images", "0"], ["--num-images 0: expected a positive integer"]),
        (["--steps", "0"], ["--steps 0"]),
    ],
)
def test_combinations_that_cannot_work(extra, needles, tmp_path, capsys):
    _fails(["attack", *extra, "--out", str(tmp_path / "o")], capsys, *needles)
    assert not (tmp_path / "o").exists()


def test_image_files_need_labels_and_existing_files(tmp_path, capsys):
    _fails(["attack", "--data", str(tmp_path / "a.png"), "--out", str(tmp_path / "o")], capsys,
           "--labels is required")  # fmt: skip
    _fails(["attack", "--data", str(tmp_path / "a.png"), "--labels", "1", "--out",
            str(tmp_path / "o")], capsys, "a.png: no such file")  # fmt: skip


def test_too_many_victims_fail_before_compiling(tmp_path, capsys):
    _fails(["attack", "--data", "photos", "--num-images", "500", "--out", str(tmp_path / "o")],
           capsys, "--num-images 500", "has only 77 images")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_sweep_export_report_errors(tmp_path, capsys):
    _fails(["sweep", str(tmp_path / "missing.py")], capsys, "does not exist")
    _fails(["export", str(tmp_path / "none.sqlite"), "--csv"], capsys, "no such store")
    _fails(["report", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "r")], capsys,
           "no such store")  # fmt: skip
