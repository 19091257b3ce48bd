"""Offline text data: random tokens, CPython's pydoc topics, a tokenizer trained here, tfds text.

* :func:`random_tokens` -- uniform random token ids over a fixed vocabulary (breaching's
  ``random-tokens`` case). No tokenizer; ROUGE/BLEU then run on the id strings.
* :func:`load_pydoc` -- real English text that every CPython ships: the documentation topics
  of the ``pydoc_data`` package (``pydoc_data.topics.topics``, the text of ``help("if")`` and
  friends), split into deterministic, disjoint ``public`` / ``private`` parts *by topic* (a topic
  is private iff the first byte of the SHA-256 of its name is divisible by 5: about a fifth of
  the topics, stable when topics are added). Tokenizers train on ``public``; victims come from
  ``private``. The text differs between Python versions, so records should name the version
  (:data:`PYDOC_SOURCE`).
* :func:`train_tokenizer` / :func:`pydoc_tokenizer` -- a tokenizer trained here with the
  ``tokenizers`` package: byte-level BPE (``kind="bpe"``, GPT-2 style, lossless decoding; the
  vocabulary holds the 256 byte symbols, so ``vocab_size >= 258``) or word-level
  (``kind="word"``: whitespace/punctuation words, any ``vocab_size >= 3``). Ids 0 and 1 are
  ``<pad>`` and ``<unk>``. Saved and loaded as the ``tokenizers`` JSON format (no pickle):
  :meth:`TextTokenizer.save` / :func:`load_tokenizer`.
* :func:`load_tfds_text` -- ``imdb_reviews``, ``ag_news_subset`` or ``lm1b`` from a prepared
  TFDS directory (**needs a download** once, on a networked machine), tokenized, truncated and
  padded to ``seq_len``.

Every loader returns a :class:`TextDataset`: int32 token ids ``(N, T)``, the vocabulary size,
optional class labels, the indices of the sequences in their source and their text.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys

import jax
import numpy as np

PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
TOKENIZER_KINDS = ("bpe", "word")
TEXT_SPLITS = ("public", "private", "all")
#: What :func:`load_pydoc` reads (the text depends on the Python version).
PYDOC_SOURCE = f"pydoc_data.topics (CPython {sys.version_info.major}.{sys.version_info.minor})"

#: tfds text datasets: name -> (text feature, label feature or None).
TFDS_TEXT_DATASETS: dict[str, tuple[str, str | None]] = {
    "imdb_reviews": ("text", "label"),
    "ag_news_subset": ("description", "label"),
    "lm1b": ("text", None),
}


# --------------------------------------------------------------------------------------------
# the dataset container
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class TextDataset:
    """Token sequences with their provenance (host NumPy arrays, read-only).

    Attributes:
      token_ids: int32 ``(N, T)``, each id in ``[0, vocab_size)``.
      vocab_size: size of the vocabulary the ids index (the model's ``vocab_size``).
      name: ``"text-random"``, ``"text-pydoc"`` or the tfds name.
      split: ``"public"`` / ``"private"`` / ``"all"`` or a tfds split string.
      indices: int64 ``(N,)`` positions of the sequences in their source (window index for
        pydoc, example index for tfds, row for random tokens).
      labels: int32 class ids ``(N,)`` for classification data, else ``None``.
      num_classes: number of classes when ``labels`` is set.
      texts: the decoded text of each sequence (empty for random tokens).
      sources: per-sequence provenance (pydoc topic and window), may be empty.
      tokenizer: the :class:`TextTokenizer` that produced the ids, or ``None``.
    """

    token_ids: np.ndarray
    vocab_size: int
    name: str
    split: str
    indices: np.ndarray
    labels: np.ndarray | None = None
    num_classes: int | None = None
    texts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tokenizer: TextTokenizer | None = None

    def __post_init__(self):
        ids = np.asarray(self.token_ids, np.int32)
        if ids.ndim != 2:
            raise ValueError(f"TextDataset: token_ids.shape={ids.shape}, expected (N, T)")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(
                f"TextDataset: token ids span [{ids.min()}, {ids.max()}], expected ids in "
                f"[0, {self.vocab_size}) (vocab_size={self.vocab_size})"
            )
        ids.setflags(write=False)
        idx = np.asarray(self.indices, np.int64)
        idx.setflags(write=False)
        if idx.shape != (ids.shape[0],):
            raise ValueError(f"TextDataset: indices.shape={idx.shape}, expected ({ids.shape[0]},)")
        object.__setattr__(self, "token_ids", ids)
        object.__setattr__(self, "indices", idx)
        if self.labels is not None:
            lab = np.asarray(self.labels, np.int32)
            lab.setflags(write=False)
            if lab.shape != (ids.shape[0],):
                raise ValueError(
                    f"TextDataset: labels.shape={lab.shape}, expected ({ids.shape[0]},)"
                )
            object.__setattr__(self, "labels", lab)

    def __len__(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.token_ids.shape[1])

    def decode(self, token_ids) -> list[str]:
        """Text of each row of ``token_ids`` (``(B, T)``): the tokenizer's decoding, or the
        ids as space-separated ``t<id>`` words when there is no tokenizer."""
        return decode_ids(token_ids, self.tokenizer)


def decode_ids(token_ids, tokenizer: TextTokenizer | None = None) -> list[str]:
    """Decode ``(B, T)`` ids with ``tokenizer``, or write them as ``"t12 t7 ..."`` without one."""
    rows = np.asarray(token_ids)
    if rows.ndim == 1:
        rows = rows[None]
    if tokenizer is None:
        return [" ".join(f"t{int(i)}" for i in row) for row in rows]
    return [tokenizer.decode(row) for row in rows]


# --------------------------------------------------------------------------------------------
# random tokens
# --------------------------------------------------------------------------------------------


def _check_pos_int(fn: str, name: str, v, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{fn}: {name}={v!r}, expected an integer >= {lo}")
    return int(v)


def random_tokens(
    key: jax.Array, *, num_sequences: int, seq_len: int, vocab_size: int
) -> TextDataset:
    """``num_sequences`` sequences of ``seq_len`` ids drawn uniformly from ``[0, vocab_size)``."""
    n = _check_pos_int("random_tokens", "num_sequences", num_sequences)
    t = _check_pos_int("random_tokens", "seq_len", seq_len)
    v = _check_pos_int("random_tokens", "vocab_size", vocab_size, 2)
    ids = np.asarray(jax.random.randint(key, (n, t), 0, v), np.int32)
    return TextDataset(
        token_ids=ids,
        vocab_size=v,
        name="text-random",
        split="all",
        indices=np.arange(n, dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------
# tokenizer
# --------------------------------------------------------------------------------------------


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` with the few methods leakjax uses.

    ``encode(text) -> list[int]``, ``decode(ids) -> str``, ``vocab_size``, ``pad_id``,
    ``token(id) -> str``; ``save(path)`` writes the ``tokenizers`` JSON format.
    """

    def __init__(self, tokenizer, *, kind: str):
        self._tok = tokenizer
        self.kind = kind
        self.vocab_size = int(tokenizer.get_vocab_size(with_added_tokens=True))
        self.pad_id = tokenizer.token_to_id(PAD_TOKEN)
        self.unk_id = tokenizer.token_to_id(UNK_TOKEN)

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1)]
        return self._tok.decode(ids, skip_special_tokens=True)

    def token(self, token_id: int) -> str:
        return self._tok.id_to_token(int(token_id))

    def to_json(self) -> str:
        return self._tok.to_str()

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as ``tokenizers`` JSON (``kind`` recorded in the file)."""
        data = json.loads(self.to_json())
        data["leakjax"] = {"kind": self.kind}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)

    def __repr__(self):
        return f"TextTokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


def train_tokenizer(texts, *, vocab_size: int, kind: str = "bpe") -> TextTokenizer:
    """Train a tokenizer on ``texts`` (an iterable of strings) with the ``tokenizers`` package.

    Args:
      texts: training text.
      vocab_size: target vocabulary size including ``<pad>`` (id 0) and ``<unk>`` (id 1); the
        result may be smaller when the text has fewer distinct words / merges.
      kind: ``"bpe"`` (byte-level BPE, GPT-2 style; ``vocab_size >= 258``) or ``"word"``
        (word-level on whitespace and punctuation; ``vocab_size >= 3``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"train_tokenizer: kind={kind!r}, expected one of {TOKENIZER_KINDS}")
    lo = 258 if kind == "bpe" else 3
    vocab_size = _check_pos_int("train_tokenizer", "vocab_size", vocab_size, lo)
    texts = list(texts)
    specials = [PAD_TOKEN, UNK_TOKEN]
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    else:
        tok = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, special_tokens=specials, show_progress=False
        )
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok, kind=kind)


def load_tokenizer(path: str | os.PathLike) -> TextTokenizer:
    """Load a tokenizer saved by :meth:`TextTokenizer.save` (or any ``tokenizers`` JSON).

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: ``path`` is not a ``tokenizers`` JSON file.
    """
    from tokenizers import Tokenizer

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"load_tokenizer: path={path!r} does not exist; expected a tokenizer JSON file "
            "written by TextTokenizer.save"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
        if not isinstance(data, dict) or "model" not in data:
            raise ValueError("no 'model' entry")
        kind = (data.get("leakjax") or {}).get("kind")
        if kind is None:
            kind = "bpe" if data["model"].get("type") == "BPE" else "word"
        data.pop("leakjax", None)
        tok = Tokenizer.from_str(json.dumps(data))
    except Exception as e:
        raise ValueError(
            f"load_tokenizer: path={path!r} is not a valid tokenizer JSON file "
            f"({type(e).__name__}: {str(e)[:200]}); expected a file written by "
            "TextTokenizer.save (the `tokenizers` JSON format)"
        ) from None
    return TextTokenizer(tok, kind=kind)


# --------------------------------------------------------------------------------------------
# pydoc topics
# --------------------------------------------------------------------------------------------


def _pydoc_topics() -> dict[str, str]:
    from pydoc_data.topics import topics

    return dict(topics)


def pydoc_topic_split(name: str) -> str:
    """``"private"`` or ``"public"`` for a pydoc topic name (deterministic, by SHA-256)."""
    return "private" if hashlib.sha256(name.encode("utf-8")).digest()[0] % 5 == 0 else "public"


def pydoc_texts(split: str = "public") -> dict[str, str]:
    """The pydoc topics of ``split`` (``"public"``, ``"private"`` or ``"all"``), name -> text,
    in sorted name order."""
    if split not in TEXT_SPLITS:
        raise ValueError(f"pydoc_texts: split={split!r}, expected one of {TEXT_SPLITS}")
    topics = _pydoc_topics()
    return {k: topics[k] for k in sorted(topics) if split == "all" or pydoc_topic_split(k) == split}


@functools.lru_cache(maxsize=8)
def pydoc_tokenizer(vocab_size: int = 1024, kind: str = "bpe") -> TextTokenizer:
    """A tokenizer trained on the *public* pydoc topics (cached per ``(vocab_size, kind)``)."""
    return train_tokenizer(pydoc_texts("public").values(), vocab_size=vocab_size, kind=kind)


def _check_tokenizer(fn: str, tokenizer):
    if not isinstance(tokenizer, TextTokenizer):
        raise TypeError(
            f"{fn}: tokenizer={tokenizer!r}, expected a leakjax TextTokenizer (train_tokenizer, "
            "pydoc_tokenizer or load_tokenizer)"
        )


def load_pydoc(
    split: str = "private",
    *,
    seq_len: int = 16,
    tokenizer: TextTokenizer | None = None,
    vocab_size: int = 1024,
    kind: str = "bpe",
    num_sequences: int | None = None,
) -> TextDataset:
    """Non-overlapping windows of ``seq_len`` tokens from the pydoc topics of ``split``.

    Each topic (in sorted name order) is tokenized on its own and cut into consecutive windows
    of ``seq_len`` tokens; a topic's last, shorter window is dropped.

    Args:
      split: ``"private"`` (victims; default), ``"public"`` or ``"all"``.
      seq_len: tokens per sequence.
      tokenizer: defaults to :func:`pydoc_tokenizer` ``(vocab_size, kind)`` (trained on public).
      num_sequences: keep the first ``num_sequences`` windows (default: all).
    """
    if split not in TEXT_SPLITS:
        raise ValueError(f"load_pydoc: split={split!r}, expected one of {TEXT_SPLITS}")
    t = _check_pos_int("load_pydoc", "seq_len", seq_len)
    tokenizer = pydoc_tokenizer(vocab_size, kind) if tokenizer is None else tokenizer
    _check_tokenizer("load_pydoc", tokenizer)
    rows, sources = [], []
    for name, text in pydoc_texts(split).items():
        ids = tokenizer.encode(text)
        for w in range(len(ids) // t):
            rows.append(ids[w * t : (w + 1) * t])
            sources.append(f"{name}#{w}")
    if num_sequences is not None:
        n = _check_pos_int("load_pydoc", "num_sequences", num_sequences)
        if n > len(rows):
            raise ValueError(
                f"load_pydoc: num_sequences={n} but split={split!r} has only {len(rows)} "
                f"windows of seq_len={t}; expected num_sequences <= {len(rows)}"
            )
        rows, sources = rows[:n], sources[:n]
    ids = np.asarray(rows, np.int32).reshape(len(rows), t)
    return TextDataset(
        token_ids=ids,
        vocab_size=tokenizer.vocab_size,
        name="text-pydoc",
        split=split,
        indices=np.arange(len(rows), dtype=np.int64),
        texts=tuple(tokenizer.decode(r) for r in ids),
        sources=tuple(sources),
        tokenizer=tokenizer,
    )


# --------------------------------------------------------------------------------------------
# tfds text
# --------------------------------------------------------------------------------------------


def pad_or_truncate(ids, seq_len: int, pad_id: int) -> list[int]:
    """The first ``seq_len`` ids, padded on the right with ``pad_id``."""
    ids = list(ids)[:seq_len]
    return ids + [pad_id] * (seq_len - len(ids))


def load_tfds_text(
    name: str,
    *,
    split: str = "train",
    seq_len: int = 16,
    tokenizer: TextTokenizer | None = None,
    num_examples: int | None = None,
    data_dir: str | None = None,
    download: bool = False,
) -> TextDataset:
    """A prepared TFDS text dataset, tokenized to ``(N, seq_len)`` ids.

    Needs the dataset prepared once in ``array_record`` format on a networked machine, e.g.
    ``tfds.builder("imdb_reviews", file_format="array_record").download_and_prepare()``.

    Args:
      name: one of :data:`TFDS_TEXT_DATASETS` (``imdb_reviews``: 2 classes; ``ag_news_subset``:
        4 classes, the ``description`` text; ``lm1b``: no labels).
      split: a TFDS split string.
      seq_len: each text is tokenized, cut to ``seq_len`` tokens and padded with ``<pad>``.
      tokenizer: defaults to :func:`pydoc_tokenizer` () (BPE, 1024 tokens, trained offline).
      num_examples: keep the first ``num_examples`` examples.
      data_dir, download: as in :func:`leakjax.data.load_tfds`.
    """
    from leakjax.data.tfds_loaders import _prepare_command

    if name not in TFDS_TEXT_DATASETS:
        raise ValueError(
            f"load_tfds_text: name={name!r} is not supported; expected one of "
            f"{tuple(TFDS_TEXT_DATASETS)}"
        )
    t = _check_pos_int("load_tfds_text", "seq_len", seq_len)
    if num_examples is not None:
        num_examples = _check_pos_int("load_tfds_text", "num_examples", num_examples)
    tokenizer = pydoc_tokenizer() if tokenizer is None else tokenizer
    _check_tokenizer("load_tfds_text", tokenizer)
    text_key, label_key = TFDS_TEXT_DATASETS[name]

    import tensorflow_datasets as tfds

    try:
        source = tfds.data_source(
            name,
            split=split,
            data_dir=data_dir,
            download=download,
            builder_kwargs={"file_format": "array_record"},
        )
    except Exception as e:
        raise FileNotFoundError(
            f"load_tfds_text: name={name!r} split={split!r} could not be read from "
            f"data_dir={data_dir!r}; it needs a download: prepare it once (network) with\n  "
            f"{_prepare_command(name, data_dir)}\n({type(e).__name__}: {str(e)[:300]})"
        ) from None
    n_total = len(source)
    n = n_total if num_examples is None else num_examples
    if n > n_total:
        raise ValueError(
            f"load_tfds_text: num_examples={n} but split={split!r} of {name!r} has only "
            f"{n_total} examples; expected num_examples <= {n_total}"
        )
    rows, texts, labels = [], [], []
    for i in range(n):
        ex = source[i]
        raw = ex[text_key]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        texts.append(text)
        rows.append(pad_or_truncate(tokenizer.encode(text), t, tokenizer.pad_id))
        if label_key is not None:
            labels.append(int(ex[label_key]))
    num_classes = None
    if label_key is not None:
        num_classes = int(source.dataset_info.features[label_key].num_classes)
    return TextDataset(
        token_ids=np.asarray(rows, np.int32).reshape(n, t),
        vocab_size=tokenizer.vocab_size,
        name=name,
        split=split,
        indices=np.arange(n, dtype=np.int64),
        labels=np.asarray(labels, np.int32) if label_key is not None else None,
        num_classes=num_classes,
        texts=tuple(texts),
        tokenizer=tokenizer,
    )
