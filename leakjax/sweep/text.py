"""Text runs on the sweep engine: validation, victims, the run program and the rows.

A *text cell* names a text dataset (``Data("text-random")``, ``Data("text-pydoc")``), a text
model (:data:`leakjax.models.TEXT_MODELS`: ``"transformer3"``, ``"transformer_lm"``,
``"transformer_classifier"``) and a text attack (:data:`leakjax.attacks.TEXT_ATTACKS`:
``"tag"``, ``"text_dlg"``, ``"token_set"``); mixing a text part with an image part is an error.
:mod:`leakjax.sweep.build` and :mod:`leakjax.sweep.engine` hand text cells to this module:

* :func:`validate_text_cell` checks names, text options, the model's context and vocabulary
  against the data, the tokenizer file, hyperparameters and the threat *before* anything
  compiles (a :class:`~leakjax.sweep.build.SweepError` naming the field and the value);
* :func:`build_text_group` builds the victims, the model and the one-run program
  ``program(key, token_ids, labels, attack_numbers, defense_numbers)``: the simulated client
  observes the victim's sequences with :func:`leakjax.fl.observe_text` (the same
  :func:`~leakjax.fl.observe.apply_defense` as images, so every defense and DP-SGD apply
  unchanged), the attack runs (:func:`leakjax.attacks.run`) and the upload bits are counted;
* :func:`text_rows_for_chunk` turns a chunk's outputs into store rows.

**Data options** (fields of :class:`leakjax.sweep.Data`): ``seq_len`` (tokens per sequence,
default 16), ``vocab_size`` (``text-random``: the number of token ids, default 1024;
``text-pydoc``: the tokenizer's target size, default 1024), ``tokenizer`` (``text-pydoc`` only:
``"bpe"`` (default) or ``"word"``, trained here on the public pydoc topics, or the path of a
tokenizer JSON file written by :meth:`leakjax.data.TextTokenizer.save`; the file's SHA-256 is part
of the run identity), ``num_classes`` (classifier labels). Victim ``v`` holds sequences
``v*B .. v*B+B-1``: for ``text-random`` each victim's ids are drawn uniformly from its own key
``fold_in(key(0), v)`` (so a victim's data does not depend on how many there are); for
``text-pydoc`` the windows of the split (:func:`leakjax.data.load_pydoc`) are taken round-robin
over the topics (first window of every topic in name order, then every second window, ...), so
consecutive sequences come from different topics. Classifier labels are synthetic: sequence
``i`` has class ``i % num_classes`` (the gradient needs labels; the data has none).

**Models** take ``vocab_size`` from the data (a larger ``vocab_size`` in ``Model(...)`` is
allowed, a smaller one is an error) and ``context`` = ``seq_len`` unless given. They are built
untrained (``Model(state="untrained")``); ``init`` is not used.

**Rows.** The image columns (``mse``, ``psnr``, ``ssim``, ``lpips``...) are NULL. ``label_acc``
is the multiset accuracy of the recovered labels (an LM's labels are the next tokens; a
classifier's the classes; NULL for token-set recovery, whose labels are a set). The text
metrics of a run are in ``metrics["text"]``, which holds only numbers and the two texts (what a
report tabulates and shows side by side):

* TAG / DLG: ``token_accuracy`` (position-wise, mean over the B sequences, Hungarian-matched
  for B > 1), ``rouge1`` / ``rouge2`` / ``rougeL`` (F-measures in [0, 1], ``rouge-score``),
  ``bleu`` (sacrebleu, 0-100), ``token_precision`` / ``token_recall`` of the recovered ids'
  set; ``recovered`` and ``truth``: the decoded text (the tokenizer's decoding; ``"t12 t7 ..."``
  without one), one string per sequence, recovered in matched order;
* token-set: ``token_precision``, ``token_recall``, ``num_recovered``, ``num_true``,
  ``label_precision`` / ``label_recall`` (the head-bias label set against the true labels);
  ``recovered`` and ``truth``: the recovered and the true token set, one string each
  (``{' the', ' of', '.'}``, tokens in id order; the full lists are in
  ``metrics["text_tokens"]``).

``metrics["text_headline"]`` names the headline metric (``"token_accuracy"`` for TAG / DLG,
``"token_recall"`` for token-set recovery); ``metrics["text_per_seq"]`` holds the per-sequence
values and the matching ``perm`` of TAG / DLG.

Blobs: ``recovered_ids`` (int32 ``(B, T)``, or the ``(V,)`` mask) and ``truth_ids`` (``(B, T)``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.sweep import build
from leakjax.sweep.build import Group, SweepError, Victims, _fail
from leakjax.sweep.identity import is_numeric_hp

TEXT_DATA = ("text-random", "text-pydoc")
TEXT_TOKENIZER_KINDS = ("bpe", "word")
DEFAULT_SEQ_LEN = 16
DEFAULT_VOCAB = 1024
PYDOC_SPLITS = ("private", "public", "all")
TEXT_LABEL_ATTACKS = ("tag", "text_dlg")  # the attacks with a labels= threat
TEXT_FIXED_HP = ("model", "seq_len", "labels", "spec")  # set by the sweep, not by hp
TRANSFORMER3_FIXED = ("num_layers", "d_model", "num_heads", "d_ff")


def _text_names():
    from leakjax import attacks, models

    return tuple(attacks.TEXT_ATTACKS), tuple(models.TEXT_MODELS)


def is_text_cell(cell: dict) -> bool:
    """Whether a sweep cell (spec objects) names any text part (data, model or attack)."""
    text_attacks, text_models = _text_names()
    return (
        getattr(cell.get("data"), "name", None) in TEXT_DATA
        or getattr(cell.get("model"), "name", None) in text_models
        or getattr(cell.get("attack"), "name", None) in text_attacks
    )


def is_text_config(config: dict) -> bool:
    """Whether a run configuration (JSON dict, :func:`leakjax.sweep.identity.run_config`) is a
    text run."""
    return config["data"]["name"] in TEXT_DATA


# --------------------------------------------------------------------------------------------
# text options of Data
# --------------------------------------------------------------------------------------------


def seq_len_of(d) -> int:
    v = _get(d, "seq_len")
    return DEFAULT_SEQ_LEN if v is None else int(v)


def _get(d, name):
    return d.get(name) if isinstance(d, dict) else getattr(d, name, None)


def tokenizer_of(d):
    """The :class:`leakjax.data.TextTokenizer` of a ``text-pydoc`` data value (``None`` for
    ``text-random``). Raises ``FileNotFoundError`` / ``ValueError`` for a bad tokenizer file."""
    from leakjax import data

    if _get(d, "name") != "text-pydoc":
        return None
    tok = _get(d, "tokenizer") or "bpe"
    if tok in TEXT_TOKENIZER_KINDS:
        vocab = _get(d, "vocab_size")
        return data.pydoc_tokenizer(DEFAULT_VOCAB if vocab is None else int(vocab), tok)
    return _load_tokenizer_file(os.path.abspath(os.fspath(tok)), _mtime(tok))


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _load_tokenizer_file(path: str, mtime):
    from leakjax import data

    del mtime  # part of the cache key: an edited file is read again
    return data.load_tokenizer(path)


def data_vocab_size(d) -> int:
    """Token ids of the data lie in ``[0, data_vocab_size(d))``."""
    if _get(d, "name") == "text-random":
        v = _get(d, "vocab_size")
        return DEFAULT_VOCAB if v is None else int(v)
    return int(tokenizer_of(d).vocab_size)


def text_data_identity(d) -> dict:
    """The text fields of a run's data configuration (part of its identity)."""
    from leakjax import data
    from leakjax.sweep.identity import file_sha256

    out = {"seq_len": seq_len_of(d), "num_classes": d.num_classes}
    if d.name == "text-random":
        out["vocab_size"] = DEFAULT_VOCAB if d.vocab_size is None else int(d.vocab_size)
        return out
    tok = d.tokenizer or "bpe"
    out["source"] = data.PYDOC_SOURCE  # the text differs between Python versions
    if tok in TEXT_TOKENIZER_KINDS:
        out["tokenizer"] = tok
        out["vocab_size"] = DEFAULT_VOCAB if d.vocab_size is None else int(d.vocab_size)
    else:
        out["tokenizer"] = os.fspath(tok)
        out["tokenizer_sha256"] = file_sha256(tok) if os.path.isfile(tok) else None
    return out


# --------------------------------------------------------------------------------------------
# validation (no compilation)
# --------------------------------------------------------------------------------------------


def _posint(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= 1


def _model_params(name: str) -> set:
    """The keyword arguments a text model factory accepts (transformer3 fixes its shape)."""
    from leakjax import models

    if name == "transformer3":
        fixed = set(TRANSFORMER3_FIXED)
        return set(inspect.signature(models.transformer_lm).parameters) - fixed - {"key"}
    return set(inspect.signature(models.TEXT_MODELS[name]).parameters) - {"key"}


def validate_text_cell(sweep: str, cell: dict) -> None:
    """Raise :class:`SweepError` for a text cell that cannot run (see the module docstring)."""
    from leakjax import attacks, defenses

    a, m, d, t, f = (cell[k] for k in ("attack", "model", "data", "threat", "defense"))
    text_attacks, text_models = _text_names()
    if d.name not in TEXT_DATA:
        _fail(sweep, "data", d.name, f"a text model or attack needs text data, one of {TEXT_DATA}")
    if m.name not in text_models:
        _fail(sweep, "model", m.name, f"text data needs a text model, one of {text_models}")
    if a.name not in text_attacks:
        _fail(sweep, "attack", a.name, f"text data needs a text attack, one of {text_attacks}")
    # ---- data
    for nm in ("victims", "batch_size"):
        if not _posint(getattr(d, nm)):
            _fail(sweep, f"data.{nm}", getattr(d, nm), "expected a positive integer")
    if d.image_shape is not None or d.paths or d.labels:
        _fail(sweep, "data", d, "image_shape, paths and labels are for image data")
    if d.normalize != "auto":
        _fail(sweep, "data.normalize", d.normalize, "text data has no normalization; leave 'auto'")
    seq_len = seq_len_of(d)
    lm = m.name != "transformer_classifier"
    if not _posint(seq_len) or seq_len < (2 if lm else 1):
        _fail(
            sweep,
            "data.seq_len",
            d.seq_len,
            f"expected an integer >= {2 if lm else 1} (a language model needs an input and a "
            "next-token label)",
        )
    if d.vocab_size is not None and (not _posint(d.vocab_size) or d.vocab_size < 2):
        _fail(sweep, "data.vocab_size", d.vocab_size, "expected an integer >= 2")
    if d.name == "text-random":
        if d.tokenizer is not None:
            _fail(sweep, "data.tokenizer", d.tokenizer, "text-random has no tokenizer (ids only)")
    else:
        if d.split not in PYDOC_SPLITS:
            _fail(sweep, "data.split", d.split, f"expected one of {PYDOC_SPLITS}")
        tok = d.tokenizer or "bpe"
        if not isinstance(tok, str | os.PathLike):
            _fail(sweep, "data.tokenizer", tok, f"expected one of {TEXT_TOKENIZER_KINDS} or a path")
        if tok not in TEXT_TOKENIZER_KINDS:
            if not os.path.isfile(tok):
                _fail(
                    sweep,
                    "data.tokenizer",
                    tok,
                    f"no such tokenizer file; expected one of {TEXT_TOKENIZER_KINDS} or the path "
                    "of a JSON file written by leakjax.data.TextTokenizer.save",
                )
            if d.vocab_size is not None:
                _fail(
                    sweep,
                    "data.vocab_size",
                    d.vocab_size,
                    "a tokenizer file fixes its own vocabulary; drop vocab_size",
                )
        elif tok == "bpe" and d.vocab_size is not None and d.vocab_size < 258:
            _fail(sweep, "data.vocab_size", d.vocab_size, "a byte-level BPE needs >= 258 tokens")
    try:
        vocab = data_vocab_size(d)
    except (FileNotFoundError, ValueError, TypeError) as e:
        _fail(sweep, "data.tokenizer", d.tokenizer, str(e))
    # ---- model
    if m.state != "untrained":
        _fail(sweep, "model.state", m.state, "text models are run untrained only")
    if m.init is not None:
        _fail(sweep, "model.init", m.init, "text models have one initialization; leave init=None")
    if not isinstance(m.seed, int) or isinstance(m.seed, bool) or m.seed < 0:
        _fail(sweep, "model.seed", m.seed, "expected an integer >= 0")
    allowed = _model_params(m.name)
    for k, v in m.kwargs.items():
        if k not in allowed:
            _fail(sweep, f"model {m.name!r} argument {k}", v, f"unknown; accepted: {sorted(allowed)}")
    context = m.kwargs.get("context", seq_len)
    if seq_len > context:
        _fail(
            sweep,
            "data.seq_len",
            seq_len,
            f"sequences of {seq_len} tokens exceed model {m.name!r}'s context={context}; "
            f"expected seq_len <= context",
        )
    mv = m.kwargs.get("vocab_size")
    if mv is not None and (not _posint(mv) or mv < vocab):
        _fail(
            sweep,
            "model.vocab_size",
            mv,
            f"token ids of data {d.name!r} lie in [0, {vocab}) (the data's vocabulary); the "
            f"model's vocab_size must be >= {vocab} (or left out: it follows the data)",
        )
    if m.name == "transformer_classifier":
        nc = m.kwargs.get("num_classes", d.num_classes)
        if not _posint(nc) or nc < 2:
            _fail(
                sweep,
                "data.num_classes",
                nc,
                "a classifier needs num_classes >= 2 (Data(num_classes=...) or Model(...))",
            )
    elif d.num_classes is not None:
        _fail(sweep, "data.num_classes", d.num_classes, "only a classifier takes classes")
    # ---- attack
    for nm, v in (("steps", a.steps), ("restarts", a.restarts)):
        if v is not None and not _posint(v):
            _fail(sweep, f"attack.{nm}", v, "expected a positive integer")
    factory = attacks.TEXT_ATTACKS[a.name]
    params = inspect.signature(factory).parameters
    for k, v in a.hp.items():
        if k in TEXT_FIXED_HP:
            _fail(sweep, f"attack.{k}", v, "is set by the sweep (data.seq_len, threat); drop it")
        if k == "lbfgs_lr":
            if a.name != "text_dlg":
                _fail(sweep, "attack.lbfgs_lr", v, "only text_dlg uses torch L-BFGS")
            continue
        if k not in params:
            _fail(
                sweep,
                f"attack {a.name!r} hyperparameter {k}",
                v,
                f"unknown; {a.name} accepts {sorted(p for p in params if p not in TEXT_FIXED_HP)}",
            )
        if isinstance(v, float) and not np.isfinite(v):
            _fail(sweep, f"attack.{k}", v, "expected a finite number")
    if a.hp.get("restrict_tokens") and m.kwargs.get("tie_embeddings"):
        _fail(sweep, "attack.restrict_tokens", True, "needs an untied model (tie_embeddings=False)")
    if a.name == "token_set" and m.kwargs.get("tie_embeddings"):
        _fail(sweep, "model.tie_embeddings", True, "token-set recovery needs an untied model")
    # ---- threat
    if a.name in TEXT_LABEL_ATTACKS:
        if t.labels not in (None, "optimize", "given"):
            _fail(sweep, "threat.labels", t.labels, f"{a.name} takes labels 'optimize' or 'given'")
    elif t.labels is not None:
        _fail(sweep, "threat.labels", t.labels, "token-set recovery takes no labels; leave None")
    if t.recipe is not None or t.assumed_recipe is not None:
        _fail(
            sweep,
            "threat.recipe",
            t.recipe or t.assumed_recipe,
            "text runs observe one gradient (FedSGD); multi-step text updates are not supported",
        )
    # ---- defense
    try:
        defenses.parse_defense(f.spec, 0)
    except (ValueError, TypeError) as e:
        _fail(sweep, "defense", f.spec, str(e))
    if f.placement is not None:
        _fail(sweep, "defense.placement", f.placement, "needs a multi-step client; leave None")


# --------------------------------------------------------------------------------------------
# victims and model
# --------------------------------------------------------------------------------------------


def _round_robin(sources: tuple[str, ...]) -> np.ndarray:
    """Order of windows ``"topic#w"`` taking window w of every topic (name order) before w+1."""
    keys = []
    for i, s in enumerate(sources):
        topic, _, w = s.rpartition("#")
        keys.append((int(w), topic, i))
    return np.asarray([i for _, _, i in sorted(keys)], np.int64)


def load_text_victims(d: dict, num_victims: int, task: str, num_classes: int | None) -> Victims:
    """The first ``num_victims`` victims (``batch_size`` sequences each) of a text dataset.

    ``Victims.images`` holds the int32 token ids ``(V, B, T)``; ``Victims.labels`` the LM's
    next tokens ``(V, B, T - 1)`` or the classifier's classes ``(V, B)``.
    """
    from leakjax import data

    b, t = int(d["batch_size"]), seq_len_of(d)
    n = num_victims * b
    tok = tokenizer_of(d)
    if d["name"] == "text-random":
        vocab = data_vocab_size(d)
        ids = np.concatenate(
            [
                data.random_tokens(
                    jax.random.fold_in(jax.random.key(0), v),
                    num_sequences=b,
                    seq_len=t,
                    vocab_size=vocab,
                ).token_ids
                for v in range(num_victims)
            ]
        )
        indices = np.arange(n)
        sources = [f"victim{i // b}#{i % b}" for i in range(n)]
    else:
        ds = data.load_pydoc(d["split"], seq_len=t, tokenizer=tok)
        if len(ds) < n:
            raise SweepError(
                f"data='text-pydoc' split={d['split']!r} has {len(ds)} windows of seq_len={t}; "
                f"{num_victims} victims of batch_size={b} need {n}"
            )
        order = _round_robin(ds.sources)[:n]
        ids = ds.token_ids[order]
        indices = ds.indices[order]
        sources = [ds.sources[i] for i in order]
    ids = ids.reshape(num_victims, b, t).astype(np.int32)
    if task == "causal_lm":
        labels = ids[:, :, 1:]
    else:
        labels = (np.arange(n) % int(num_classes)).astype(np.int32).reshape(num_victims, b)
    info = []
    for v in range(num_victims):
        sl = slice(v * b, v * b + b)
        item = dict(indices=[int(i) for i in indices[sl]], sources=sources[sl])
        if task != "causal_lm":
            item["labels"] = labels[v].tolist()
        info.append(item)
    class_names = tuple(str(i) for i in range(int(num_classes))) if num_classes else ()
    return Victims(ids, labels, info, None, class_names)


def build_text_model(m: dict, vocab_size: int, seq_len: int, num_classes: int | None):
    from leakjax import models

    kwargs = dict(m["kwargs"])
    kwargs.setdefault("vocab_size", vocab_size)
    kwargs.setdefault("context", seq_len)
    if m["name"] == "transformer_classifier":
        kwargs.setdefault("num_classes", num_classes)
    return models.TEXT_MODELS[m["name"]](jax.random.key(int(m["seed"])), **kwargs)


# --------------------------------------------------------------------------------------------
# the group
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TextGroup(Group):
    """A :class:`~leakjax.sweep.build.Group` of text runs (``victims.images`` are token ids)."""

    tokenizer: Any = None
    task: str = "causal_lm"
    text: bool = True  # the engine's marker for text groups


def text_labels_mode(config: dict) -> str | None:
    if config["attack"]["name"] not in TEXT_LABEL_ATTACKS:
        return None
    return config["threat"]["labels"] or "optimize"


def _text_attack_factory(config: dict, model, seq_len: int, steps: int):
    from leakjax import attacks

    a = config["attack"]
    name = a["name"]
    static = {k: v for k, v in a["hp"].items() if not is_numeric_hp(k, v) and k != "lbfgs_lr"}
    if name in TEXT_LABEL_ATTACKS:
        static["seq_len"] = seq_len
        static["labels"] = text_labels_mode(config)
    if name == "tag":
        # breaching decays TAG's learning rate to 0 over the run's max_iterations
        static.setdefault("decay_steps", steps)
    factory = attacks.TEXT_ATTACKS[name]

    def make(numbers: dict):
        extra = dict(numbers)
        lbfgs_lr = extra.pop("lbfgs_lr", a["hp"].get("lbfgs_lr"))
        kw = dict(static, **extra)
        if lbfgs_lr is not None:
            kw["optimizer"] = attacks.torch_lbfgs(lr=lbfgs_lr)
        return factory(model, **kw)

    return make


def build_text_group(key: str, config: dict, num_victims: int) -> TextGroup:
    """Build the model, the victims and the run program of one text group."""
    from leakjax import attacks, fl
    from leakjax.defenses.comm import upload_bits
    from leakjax.defenses.spec import build_defense, spec_wire_format

    d, m = config["data"], config["model"]
    seq_len = seq_len_of(d)
    task = "classification" if m["name"] == "transformer_classifier" else "causal_lm"
    num_classes = m["kwargs"].get("num_classes", d.get("num_classes"))
    victims = load_text_victims(d, num_victims, task, num_classes)
    model = build_text_model(m, data_vocab_size(d), seq_len, num_classes)
    steps = build.attack_steps(config)
    restarts = int(config["attack"]["restarts"])
    make_attack = _text_attack_factory(config, model, seq_len, steps)
    spec_str = config["defense"]["spec"]
    reveal = text_labels_mode(config) == "given"
    wire = spec_wire_format(spec_str)
    lm = task == "causal_lm"

    def program(key, token_ids, y, anum, dnum):
        k_client, k_attack = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
        defense = build_defense(spec_str, 0, list(dnum)) if spec_str not in ("", "none") else None
        obs = fl.observe_text(
            k_client,
            model,
            token_ids,
            None if lm else y,
            defense=defense,
            reveal_labels=reveal,
        )
        r = attacks.run(make_attack(anum), k_attack, obs, steps=steps, restarts=restarts)
        return dict(
            inputs=r.inputs.astype(jnp.int32),
            labels=r.labels.astype(jnp.int32),
            loss=r.loss,
            status=r.status,
            restart=r.restart,
            bits=upload_bits(obs.update, wire),
        )

    return TextGroup(
        key=key,
        config=config,
        model=model,
        dspec=None,
        victims=victims,
        program=program,
        attack_numbers=tuple(sorted(build.attack_numbers(config))),
        steps=steps,
        restarts=restarts,
        wire=wire,
        tokenizer=tokenizer_of(d),
        task=task,
    )


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def _token_strings(ids, tokenizer) -> list[str]:
    if tokenizer is None:
        return [f"t{int(i)}" for i in ids]
    return [tokenizer.decode([int(i)]) for i in ids]


def _pr(recovered: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Precision and recall of two boolean ``(V,)`` masks (empty recovered set: precision 0)."""
    hit = float(np.sum(recovered & true))
    n_rec, n_true = float(np.sum(recovered)), float(np.sum(true))
    return (hit / n_rec if n_rec else 0.0), (hit / n_true if n_true else 0.0)


def _mask(ids, size: int) -> np.ndarray:
    m = np.zeros((size,), bool)
    m[np.asarray(ids).reshape(-1)] = True
    return m


def sequence_metrics(recovered, truth, tokenizer, vocab_size: int) -> dict:
    """Text metrics of one run of TAG / DLG: ``recovered`` and ``truth`` int ``(B, T)``."""
    from leakjax import metrics

    rec = np.asarray(recovered, np.int32)
    tru = np.asarray(truth, np.int32)
    if rec.shape[0] > 1:
        perm = np.asarray(metrics.match_sequences(rec, tru))
    else:
        perm = np.zeros((1,), np.int32)
    matched = rec[perm]
    acc = np.mean(matched == tru, axis=-1)
    rouge = metrics.rouge_scores(matched, tru, tokenizer=tokenizer, match=False)
    bleu = metrics.bleu_scores(matched, tru, tokenizer=tokenizer, match=False)
    p, r = _pr(_mask(rec, vocab_size), _mask(tru, vocab_size))
    from leakjax.data.text import decode_ids

    text = dict(token_accuracy=float(acc.mean()))
    per_seq = dict(token_accuracy=acc.tolist(), perm=perm.tolist())
    for k in ("rouge1", "rouge2", "rougeL"):
        text[k] = float(np.mean(rouge[k]))
        per_seq[k] = rouge[k].tolist()
    text["bleu"] = float(np.mean(bleu))
    per_seq["bleu"] = bleu.tolist()
    text["token_precision"], text["token_recall"] = p, r
    text["recovered"] = decode_ids(matched, tokenizer)
    text["truth"] = decode_ids(tru, tokenizer)
    return dict(text=text, text_headline="token_accuracy", text_per_seq=per_seq)


def _set_string(tokens: list[str]) -> str:
    return "{" + ", ".join(repr(t) for t in tokens) + "}"


def token_set_metrics(mask, label_mask, truth, true_labels, tokenizer) -> dict:
    """Text metrics of one token-set run: ``mask`` int ``(V,)``, ``label_mask`` ``(C,)``."""
    rec = np.asarray(mask).astype(bool)
    tru = _mask(truth, rec.shape[0])
    p, r = _pr(rec, tru)
    lab = np.asarray(label_mask).astype(bool)
    lp, lr = _pr(lab, _mask(true_labels, lab.shape[0]))
    tokens = dict(
        recovered=_token_strings(np.flatnonzero(rec), tokenizer),
        truth=_token_strings(np.flatnonzero(tru), tokenizer),
    )
    text = dict(
        token_precision=p,
        token_recall=r,
        num_recovered=int(rec.sum()),
        num_true=int(tru.sum()),
        label_precision=lp,
        label_recall=lr,
        recovered=_set_string(tokens["recovered"]),
        truth=_set_string(tokens["truth"]),
    )
    return dict(text=text, text_headline="token_recall", text_tokens=tokens)


def text_rows_for_chunk(group: TextGroup, runs, out: dict, env_id: str, chunk_id: str, extra):
    """Store rows and blobs of one chunk of text runs (see the module docstring)."""
    from leakjax.sweep.engine import _epsilon, run_columns
    from leakjax.types import status_name

    rows, blobs = [], []
    eps, delta, eps_info = _epsilon(group.config)
    vocab = int(group.model.extra["vocab_size"])
    token_set = group.config["attack"]["name"] == "token_set"
    for i, r in enumerate(runs):
        truth = group.victims.images[r.victim]
        true_labels = group.victims.labels[r.victim]
        recovered = np.asarray(out["inputs"][i])
        pred_labels = np.asarray(out["labels"][i])
        if token_set:
            text = token_set_metrics(recovered, pred_labels, truth, true_labels, group.tokenizer)
            label_acc = None
        else:
            text = sequence_metrics(recovered, truth, group.tokenizer, vocab)
            label_acc = build.label_accuracy(pred_labels, true_labels)
        loss = float(out["loss"][i])
        finite = math.isfinite(loss)
        status = status_name(int(out["status"][i])) if finite else "diverged"
        metrics = dict(
            **text,
            labels_pred=pred_labels.tolist(),
            labels_true=np.asarray(true_labels).tolist(),
            restart=int(out["restart"][i]),
            steps=group.steps,
            restarts=group.restarts,
            **extra,
        )
        if eps_info:
            metrics["dp"] = eps_info
        rows.append(
            dict(
                **run_columns(r),
                status=status,
                loss=loss if finite else None,
                mse=None,
                psnr=None,
                ssim=None,
                mse_norm=None,
                psnr_norm=None,
                lpips=None,
                label_acc=label_acc,
                upload_bits=float(out["bits"][i]),
                epsilon=eps,
                delta=delta,
                accuracy=None,
                seconds=float(out["seconds"][i]),
                metrics=metrics,
                victims=group.victims.info[r.victim],
                env_id=env_id,
                chunk=chunk_id,
            )
        )
        blobs.append((r.run_id, "recovered_ids", recovered.astype(np.int32)))
        blobs.append((r.run_id, "truth_ids", np.asarray(truth, np.int32)))
    return rows, blobs
