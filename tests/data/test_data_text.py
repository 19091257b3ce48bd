"""Offline text data: random tokens, pydoc split, tokenizer training and JSON I/O, tfds text."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from leakjax.data import text as T


def test_random_tokens_shape_range_and_key():
    a = T.random_tokens(jax.random.key(0), num_sequences=5, seq_len=16, vocab_size=7)
    b = T.random_tokens(jax.random.key(0), num_sequences=5, seq_len=16, vocab_size=7)
    c = T.random_tokens(jax.random.key(1), num_sequences=5, seq_len=16, vocab_size=7)
    assert a.token_ids.shape == (5, 16) and a.token_ids.dtype == np.int32
    assert a.token_ids.min() >= 0 and a.token_ids.max() < 7
    assert len(np.unique(a.token_ids)) == 7  # 80 draws cover a 7-token vocabulary
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    assert not np.array_equal(a.token_ids, c.token_ids)
    assert a.decode(a.token_ids[:1])[0].split()[0] == f"t{a.token_ids[0, 0]}"
    with pytest.raises(ValueError, match="seq_len=0"):
        T.random_tokens(jax.random.key(0), num_sequences=1, seq_len=0, vocab_size=4)


def test_pydoc_split_is_disjoint_deterministic_and_complete():
    pub, priv, every = T.pydoc_texts("public"), T.pydoc_texts("private"), T.pydoc_texts("all")
    assert set(pub).isdisjoint(priv)
    assert set(pub) | set(priv) == set(every)
    assert 0.1 < len(priv) / len(every) < 0.35
    assert list(priv) == sorted(priv)
    assert all(T.pydoc_topic_split(k) == "private" for k in priv)
    with pytest.raises(ValueError, match="split='train'"):
        T.pydoc_texts("train")


def test_pydoc_tokenizer_is_trained_on_public_only_and_lossless():
    tok = T.pydoc_tokenizer(512)
    assert tok.vocab_size == 512 and tok.pad_id == 0 and tok.unk_id == 1
    again = T.train_tokenizer(T.pydoc_texts("public").values(), vocab_size=512)
    assert again.to_json() == tok.to_json()  # deterministic, and from the public part
    with_private = T.train_tokenizer(T.pydoc_texts("all").values(), vocab_size=512)
    assert with_private.to_json() != tok.to_json()
    text = next(iter(T.pydoc_texts("private").values()))[:400]
    assert tok.decode(tok.encode(text)) == text  # byte-level BPE decodes losslessly


def test_word_tokenizer_vocab_size_parameter():
    texts = ["the cat sat on the mat", "the dog sat", "a cat and a dog"]
    tok = T.train_tokenizer(texts, vocab_size=6, kind="word")
    assert tok.vocab_size == 6  # <pad>, <unk> + the 4 most frequent words
    ids = tok.encode("the cat flew")
    assert ids[-1] == tok.unk_id and tok.token(ids[0]) == "the"
    with pytest.raises(ValueError, match="vocab_size=100"):
        T.train_tokenizer(texts, vocab_size=100, kind="bpe")  # bpe needs >= 258
    with pytest.raises(ValueError, match="kind='chars'"):
        T.train_tokenizer(texts, vocab_size=10, kind="chars")


def test_tokenizer_json_roundtrip_and_bad_files(tmp_path):
    tok = T.train_tokenizer(["some words here", "and more words"], vocab_size=8, kind="word")
    path = tmp_path / "tok.json"
    tok.save(path)
    assert json.loads(path.read_text())["leakjax"]["kind"] == "word"
    back = T.load_tokenizer(path)
    assert back.kind == "word" and back.vocab_size == tok.vocab_size
    assert back.encode("more words here") == tok.encode("more words here")
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match=r"path='.*nope\.json' does not exist"):
        T.load_tokenizer(missing)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"model": {"type": "BPE", "vocab": ')
    with pytest.raises(ValueError, match=r"path='.*corrupt\.json' is not a valid tokenizer JSON"):
        T.load_tokenizer(corrupt)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match=r"other\.json' is not a valid tokenizer JSON"):
        T.load_tokenizer(other)


def test_load_pydoc_windows():
    tok = T.pydoc_tokenizer(512)
    ds = T.load_pydoc("private", seq_len=8, tokenizer=tok)
    assert ds.token_ids.shape[1] == 8 and len(ds) > 100
    assert ds.vocab_size == 512 and ds.name == "text-pydoc" and ds.split == "private"
    assert ds.texts[0] == tok.decode(ds.token_ids[0])
    topics = {s.split("#")[0] for s in ds.sources}
    assert topics <= set(T.pydoc_texts("private"))
    first = next(iter(T.pydoc_texts("private").values()))
    np.testing.assert_array_equal(ds.token_ids[0], tok.encode(first)[:8])
    head = T.load_pydoc("private", seq_len=8, tokenizer=tok, num_sequences=3)
    np.testing.assert_array_equal(head.token_ids, ds.token_ids[:3])
    with pytest.raises(ValueError, match=r"num_sequences=100000 but split='private'"):
        T.load_pydoc("private", seq_len=8, tokenizer=tok, num_sequences=100000)
    with pytest.raises(TypeError, match="tokenizer="):
        T.load_pydoc("private", tokenizer="gpt2")


tfds = pytest.importorskip("tensorflow_datasets")


@pytest.mark.parametrize(
    "name, classes", [("imdb_reviews", 2), ("ag_news_subset", 4), ("lm1b", None)]
)
def test_tfds_text_with_mock_data(name, classes, tmp_path):
    tok = T.train_tokenizer(["a b c d e f g h i j"], vocab_size=10, kind="word")
    with tfds.testing.mock_data(num_examples=4):
        ds = T.load_tfds_text(
            name, num_examples=3, seq_len=6, tokenizer=tok, data_dir=str(tmp_path)
        )
    assert ds.token_ids.shape == (3, 6) and ds.vocab_size == 10 and len(ds.texts) == 3
    for row, text in zip(ds.token_ids, ds.texts):
        n = len(tok.encode(text))
        assert (row[n:] == tok.pad_id).all()  # padded on the right
        assert list(row[: min(n, 6)]) == tok.encode(text)[:6]
    if classes is None:
        assert ds.labels is None
    else:
        assert ds.num_classes == classes and ds.labels.shape == (3,)
        assert ds.labels.min() >= 0 and ds.labels.max() < classes


def test_tfds_text_errors(tmp_path):
    with pytest.raises(ValueError, match="name='glue/cola' is not supported"):
        T.load_tfds_text("glue/cola")
    with pytest.raises(FileNotFoundError, match=r"(?s)name='imdb_reviews'.*needs a download"):
        T.load_tfds_text("imdb_reviews", data_dir=str(tmp_path))
