"""Issue 13.6: ``leakjax attack`` on text data: text next to the truth, and text-specific errors."""

import json

import pytest

from leakjax.cli import main

pytest.importorskip("tqdm")


def test_token_set_on_pydoc_prints_text_next_to_the_truth_and_resumes(tmp_path, capsys):
    out = tmp_path / "t"
    argv = ["attack", "--attack", "token_set", "--model", "transformer3", "--data", "text-pydoc",
            "--num-images", "2", "--seq-len", "6", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    recs = json.loads((out / "results.json").read_text())
    assert [r["victim"] for r in recs] == [0, 1]
    for r in recs:  # exact on an untrained model without a defense
        assert r["status"] == "max_steps" and r["headline"] == "token_recall"
        assert r["token_precision"] == 1.0 and r["token_recall"] == 1.0
        assert r["recovered"] == r["truth"] and r["truth"].startswith("{")
        assert f"recovered: {r['recovered']}" in printed and f"truth:     {r['truth']}" in printed
    md = (out / "texts.md").read_text()
    assert md.count("- truth:") == 2 and md.count("- recovered:") == 2
    assert "token P" in printed and "token R" in printed
    assert main(argv) == 0  # the same command resumes: nothing to run
    assert "already in" in capsys.readouterr().err


def test_the_defense_reaches_text_runs(tmp_path):
    """--defense acts on text updates: noise makes every embedding row non-zero, so the exact
    rule returns most of the vocabulary (recall stays 1, precision falls)."""
    base = ["attack", "--attack", "token_set", "--model", "transformer3", "--data",
            "text-random", "--vocab-size", "64", "--seq-len", "6", "--num-images", "1",
            "--quiet"]  # fmt: skip
    assert main([*base, "--defense", "noise_std=0.01", "--out", str(tmp_path / "n")]) == 0
    (noisy,) = json.loads((tmp_path / "n" / "results.json").read_text())
    assert noisy["token_recall"] == 1.0 and noisy["token_precision"] < 0.5


def _fails(argv, capsys, *needles):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert line.startswith("leakjax attack: error: ") and "Traceback" not in err
    for n in needles:
        assert n in line, (n, line)


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--data", "text-random"], ("--attack idlg (the default, for images)", "tag")),
        (["--data", "text-random", "--attack", "tag"], ("--model lenet (the default", "transformer3")),
        (["--data", "photos", "--attack", "tag"], ("--attack tag", "text-random")),
        (["--data", "photos", "--model", "transformer3"], ("--model transformer3", "text")),
        (["--data", "photos", "--seq-len", "8"], ("--seq-len 8", "text data")),
        (["--data", "text-random", "--attack", "tag", "--model", "transformer3", "--tv", "0.1"],
         ("--tv 0.1", "image data")),
        (["--data", "text-random", "--attack", "tag", "--model", "transformer3", "--tokenizer",
          "word"], ("--tokenizer word", "only text-pydoc")),
        (["--data", "text-pydoc", "--attack", "tag", "--model", "transformer3", "--tokenizer",
          "/no/such.json"], ("--tokenizer /no/such.json", "no such file")),
        (["--data", "text-random", "--attack", "tag", "--model", "transformer3", "--seq-len",
          "9999"], ("--seq-len 9999", "[1, 512]")),
        (["--data", "text-random", "--attack", "token_set", "--model", "transformer3",
          "--labels-known"], ("--labels-known", "takes no labels")),
    ],
)
def test_text_flags_that_cannot_work(extra, needles, tmp_path, capsys):
    _fails(["attack", *extra, "--out", str(tmp_path / "o")], capsys, *needles)
    assert not (tmp_path / "o").exists()
