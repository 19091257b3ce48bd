"""Text runs through the sweep engine: rows with the text metrics, defenses, errors, identity."""

import json

import numpy as np
import pytest

from leakjax import metrics
from leakjax.sweep import (
    Attack,
    Data,
    Defense,
    Model,
    Sweep,
    SweepError,
    Threat,
    axis,
    load,
    make_plan,
    product,
    run_sweep,
)
from leakjax.sweep.store import Store

LM = Model("transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32)
RANDOM = Data("text-random", victims=2, seq_len=4, vocab_size=32)
RANDOM1 = Data("text-random", victims=1, seq_len=4, vocab_size=32)


def _sweep(runs, name="text"):
    return Sweep(name, runs=runs)


def _rows(store):
    """``{(attack, defense): [(metrics, row, (recovered_ids, truth_ids)), ...]}``."""
    out = {}
    with Store(store, readonly=True) as s:
        for row in s.rows():
            blobs = (s.blob(row["run_id"], "recovered_ids"), s.blob(row["run_id"], "truth_ids"))
            key = (row["attack"], row["defense"])
            out.setdefault(key, []).append((json.loads(row["metrics"]), row, blobs))
    return out


def test_text_sweep_rows_hold_text_metrics_and_defenses_act(tmp_path):
    """TAG recovers the tiny model's sequence; token-set recovery is exact undefended and, with
    the exact rule, floods to every token under DP-SGD's noise; DP-SGD rows carry epsilon."""
    sweep = _sweep(
        [
            {"attack": Attack("tag", steps=1000), "data": RANDOM1},
            *product(axis("attack", [Attack("token_set")]), axis("data", [RANDOM]),
                     axis("defense", [Defense(), Defense("dpsgd=1.0:0.5")])),
        ]
    )
    sweep.defaults = {"model": LM}
    store = str(tmp_path / "t.sqlite")
    r = run_sweep(sweep, store, progress=False)
    assert (r.total, r.written, r.failed) == (5, 5, 0)
    df = load(store)
    assert df.mse.isna().all() and df.psnr.isna().all() and df.lpips.isna().all()
    by = _rows(store)
    # TAG: the stored accuracy is the one of the stored ids; the truth is the victim's data
    [(m, row, (rec, truth))] = by[("tag", "none")]
    t = m["text"]
    assert rec.shape == truth.shape == (1, 4) and rec.dtype == np.int32
    assert m["text_headline"] == "token_accuracy" and m["text_per_seq"]["perm"] == [0]
    assert all(isinstance(v, float) or k in ("recovered", "truth") for k, v in t.items())
    assert t["token_accuracy"] == pytest.approx(float(metrics.token_accuracy(rec, truth)[0]))
    assert t["token_accuracy"] == 1.0 and t["rouge1"] == 1.0 and t["bleu"] == pytest.approx(100)
    assert t["truth"] == [" ".join(f"t{i}" for i in truth[0])] == t["recovered"]
    assert row["label_acc"] == 1.0  # the LM's labels: the next tokens
    assert row["status"] in ("converged", "max_steps") and row["upload_bits"] > 0
    # token-set: exact undefended (two victims, two different sequences)
    truths = set()
    for m, row, (mask, truth) in by[("token_set", "none")]:
        t = m["text"]
        assert (t["token_precision"], t["token_recall"]) == (1.0, 1.0)
        assert t["num_recovered"] == len(set(truth.ravel().tolist())) == int(mask.sum())
        tokens = [f"t{i}" for i in sorted(set(truth.ravel()))]
        assert m["text_tokens"]["recovered"] == m["text_tokens"]["truth"] == tokens
        assert t["recovered"] == t["truth"] == "{" + ", ".join(map(repr, tokens)) + "}"
        assert m["text_headline"] == "token_recall"
        assert row["label_acc"] is None and row["epsilon"] is None
        truths.add(tuple(truth[0]))
    assert len(truths) == 2
    # DP-SGD's noise makes every row non-zero: the exact rule returns the whole vocabulary
    for m, row, (mask, truth) in by[("token_set", "dpsgd=1.0:0.5")]:
        t = m["text"]
        assert int(mask.sum()) == t["num_recovered"] == 32 and t["token_recall"] == 1.0
        assert t["token_precision"] == pytest.approx(len(set(truth.ravel().tolist())) / 32)
        assert row["epsilon"] > 0 and np.isfinite(row["epsilon"]) and m["dp"]["steps"] == 1


def test_pydoc_classifier_rows_decode_real_text_and_labels(tmp_path):
    """text-pydoc victims are real pydoc windows (decoded in the row, round-robin over topics);
    a classifier client gets the victims' synthetic classes (the head bias gives them back)."""
    from leakjax import data

    tok = data.pydoc_tokenizer(300, "word")
    pydoc = Data("text-pydoc", victims=2, seq_len=4, vocab_size=300, tokenizer="word")
    clf = Model(
        "transformer_classifier", num_layers=1, d_model=16, num_heads=2, d_ff=32, num_classes=3
    )
    sweep = _sweep(
        product(axis("attack", [Attack("token_set")]), axis("model", [clf]), axis("data", [pydoc]))
    )
    store = str(tmp_path / "p.sqlite")
    r = run_sweep(sweep, store, progress=False)
    assert r.written == 2 and r.failed == 0
    ds = data.load_pydoc("private", seq_len=4, tokenizer=tok)
    topics = set()
    for m, row, (_, truth) in _rows(store)[("token_set", "none")]:
        victims = json.loads(row["victims"])
        i = ds.sources.index(victims["sources"][0])
        np.testing.assert_array_equal(truth[0], ds.token_ids[i])
        topics.add(victims["sources"][0].split("#")[0])
        t = m["text"]
        assert m["text_tokens"]["truth"] == [tok.decode([v]) for v in sorted(set(truth[0]))]
        assert (t["token_precision"], t["token_recall"]) == (1.0, 1.0)
        assert victims["labels"] == [row["victim"] % 3] == m["labels_true"]
        assert (t["label_precision"], t["label_recall"]) == (1.0, 1.0)
    assert len(topics) == 2  # victims 0 and 1 come from different topics


def _plan(**data_kw):
    kw = dict(victims=1, seq_len=4, vocab_size=32)
    kw.update(data_kw)
    name = kw.pop("name", "text-random")
    model = kw.pop("model", LM)
    attack = kw.pop("attack", Attack("tag", steps=2))
    threat = kw.pop("threat", Threat())
    return make_plan(
        _sweep(
            product(
                axis("attack", [attack]),
                axis("model", [model]),
                axis("data", [Data(name, **kw)]),
                axis("threat", [threat]),
            )
        ),
        {},
    )


def test_bad_text_input_is_refused_before_compiling(tmp_path):
    ctx4 = Model("transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32, context=4)
    with pytest.raises(SweepError, match=r"data.seq_len=8.*context=4"):
        _plan(seq_len=8, model=ctx4)
    small = Model("transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32, vocab_size=16)
    with pytest.raises(SweepError, match=r"model.vocab_size=16.*\[0, 32\)"):
        _plan(model=small)
    missing = str(tmp_path / "nope.json")
    with pytest.raises(SweepError, match=r"data.tokenizer='.*nope.json'.*no such tokenizer"):
        _plan(name="text-pydoc", tokenizer=missing, vocab_size=None)
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a tokenizer"}')
    with pytest.raises(SweepError, match=r"data.tokenizer=.*bad.json.*not a valid tokenizer"):
        _plan(name="text-pydoc", tokenizer=str(bad), vocab_size=None)
    with pytest.raises(SweepError, match="attack='dlg'.*text attack"):
        _plan(attack=Attack("dlg"))
    with pytest.raises(SweepError, match="data='photos'.*text data"):
        _plan(name="photos", seq_len=None, vocab_size=None)
    with pytest.raises(SweepError, match="threat.labels='given'.*token-set"):
        _plan(attack=Attack("token_set"), threat=Threat(labels="given"))
    with pytest.raises(SweepError, match="attack.seq_len"):
        _plan(attack=Attack("tag", seq_len=4))
    with pytest.raises(SweepError, match="hyperparameter alphabet"):
        _plan(attack=Attack("tag", alphabet=0.1))
    with pytest.raises(SweepError, match="model 'transformer3' argument num_layers"):
        _plan(model=Model("transformer3", num_layers=1))
    clf = Model("transformer_classifier", num_layers=1, d_model=16, num_heads=2, d_ff=32)
    with pytest.raises(SweepError, match="data.num_classes=None.*classifier needs"):
        _plan(model=clf)


def test_text_identity_covers_the_text_options(tmp_path):
    from leakjax import data

    ids = lambda **kw: {r.run_id for r in _plan(**kw).runs}  # noqa: E731
    a, b, c = ids(), ids(seq_len=3), ids(vocab_size=33)
    assert len(a | b | c) == 3
    tok_path = tmp_path / "tok.json"
    data.pydoc_tokenizer(300, "word").save(tok_path)
    p1 = ids(name="text-pydoc", tokenizer=str(tok_path), vocab_size=None)
    data.pydoc_tokenizer(301, "word").save(tok_path)  # an edited file is a new run
    p2 = ids(name="text-pydoc", tokenizer=str(tok_path), vocab_size=None)
    assert p1 != p2
    cfg = _plan(name="text-pydoc", tokenizer="word", vocab_size=300).runs[0].config
    assert cfg["data"]["source"] == data.PYDOC_SOURCE and cfg["data"]["tokenizer"] == "word"
