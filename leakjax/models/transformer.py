"""Small transformers for text: a causal language model and a sequence classifier.

The language model follows breaching's ``transformer3`` (the model of its TAG case,
``10_causal_lang_training``; itself PyTorch's ``word_language_model`` example): a learnable
token embedding, a learnable positional embedding, ``num_layers`` post-LayerNorm encoder blocks
(``torch.nn.TransformerEncoderLayer``: self-attention, ReLU feed-forward, no dropout) and an
untied linear output head. ``transformer3`` is 3 layers, ``d_model = 96``, 8 heads,
feed-forward 1536. Untrained models are initialized with the reference's distributions:
token embedding and head kernel ``U(-0.1, 0.1)`` (``init_weights``), positional embedding
``N(0, 1)`` (``nn.Embedding``), attention input projection Xavier-uniform with zero bias, the
attention output projection ``U(+-1/sqrt(d))`` with zero bias, feed-forward and head biases
``nn.Linear``'s ``U(+-1/sqrt(fan_in))``, LayerNorm scale 1, bias 0, eps 1e-5. Only the
distributions match PyTorch, not its random stream.

**Causal mask.** ``causal=True`` (the default) masks attention to earlier positions. Breaching's
``TransformerModel.forward`` builds that mask only when called with ``has_mask=True``, which its
TAG case never does, so its "causal" LM attends in both directions; ``causal=False`` reproduces
that. With a causal mask the *last* token of a sequence only reaches the dropped last output
position, so it gets no gradient through the input side (it still leaks as a label).

**How text models take input.** ``Model.apply_fn(params, token_ids)`` takes integer token ids
``(B, T)`` with ``T <= context``: this is the client's function, so ``leakjax.fl``'s gradient
(and every defense built on it) differentiates the token-embedding table too, and the shared
update contains its gradient (non-zero only in the rows of the tokens present). Attacks work on
continuous embeddings instead, through two pure functions in ``Model.extra``:

* ``extra["embed_fn"](params, token_ids) -> (B, T, D)``: the token-embedding lookup;
* ``extra["apply_embeddings"](params, embeddings) -> logits``: the rest of the network, from the
  token-embedding output on (positional embedding added inside), so gradients with respect to
  the embeddings are defined. ``apply_fn(p, ids) == apply_embeddings(p, embed_fn(p, ids))``.

:func:`embedding_model` returns the Model whose ``apply_fn`` is ``apply_embeddings``; its
gradient has an exactly zero token-embedding leaf (the table is not used), which is why the text
attacks leave that leaf out of their matching distance (see :mod:`leakjax.attacks.text_common`).

**Outputs and labels.** The LM returns *next-token* logits ``(B, T - 1, V)``: position ``t``
predicts token ``t + 1`` and the last position, which has no target, is dropped (breaching's
``CausalLoss``). Its labels are ``token_ids[:, 1:]`` (:func:`lm_labels`), so the client's
batch-mean cross-entropy of ``leakjax.fl`` is the mean over the ``B * (T - 1)`` predicted
positions, as PyTorch's ``CrossEntropyLoss`` on the flattened logits. The classifier returns
``(B, num_classes)`` from the mean of the last block's outputs over positions.

**Tied weights** (``tie_embeddings=True``): the head is ``h @ E.T + b`` with the token table
``E``; the params then have no head kernel, ``classifier_kernel_path`` points at ``E`` itself,
``(V, D)``, the transpose of an untied head kernel, and ``extra["tied"]`` is True. The table's
gradient is then the sum of the input-side part (rows of the tokens present) and the output-side
part ``sum_t (softmax(z_t) - onehot(y_t)) h_t``, which is non-zero in *every* row, so the rows
of the table gradient no longer reveal the input tokens (token-set recovery refuses tied models).

**Layer order** (module order, recorded in ``extra["layer_order"]`` as a tuple of param paths)
is PyTorch's ``named_parameters()`` order of breaching's model: positional embedding, then per
block ``attn_qkv`` (in_proj) kernel and bias, ``attn_out`` kernel and bias, ``mlp_in``,
``mlp_out``, ``ln1``, ``ln2``; then the token embedding, then the head kernel and bias.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from leakjax.types import Model, Params, PRNGKey, PyTreePath

TOKEN_EMBEDDING_PATH: PyTreePath = ("token_embed", "embedding")
POSITION_EMBEDDING_PATH: PyTreePath = ("pos_embed", "embedding")
TASKS = ("causal_lm", "classification")
POOLINGS = ("mean", "first")


def _uniform(scale: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


def _torch_linear_bias(fan_in: int):
    return _uniform(1.0 / math.sqrt(fan_in))


class _Bias(nn.Module):
    """A bare output bias (the head of a tied model)."""

    features: int
    fan_in: int

    @nn.compact
    def __call__(self, x):
        b = self.param("bias", _torch_linear_bias(self.fan_in), (self.features,))
        return x + b


class EncoderBlock(nn.Module):
    """``torch.nn.TransformerEncoderLayer`` (post-LN, ReLU, no dropout) on ``(B, T, D)``."""

    d_model: int
    num_heads: int
    d_ff: int
    causal: bool

    @nn.compact
    def __call__(self, x):
        b, t, d = x.shape
        h = self.num_heads
        dh = d // h
        qkv = nn.Dense(
            3 * d,
            kernel_init=nn.initializers.xavier_uniform(),
            bias_init=nn.initializers.zeros,
            name="attn_qkv",
        )(x)
        q, k, v = jnp.split(qkv, 3, axis=-1)
        q = q.reshape(b, t, h, dh)
        k = k.reshape(b, t, h, dh)
        v = v.reshape(b, t, h, dh)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
        if self.causal:
            mask = jnp.tril(jnp.ones((t, t), bool))
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        attn = jax.nn.softmax(scores, axis=-1)
        ctx = jnp.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, t, d)
        sa = nn.Dense(
            d,
            kernel_init=_uniform(1.0 / math.sqrt(d)),
            bias_init=nn.initializers.zeros,
            name="attn_out",
        )(ctx)
        x = nn.LayerNorm(epsilon=1e-5, name="ln1")(x + sa)
        ff = nn.Dense(
            self.d_ff,
            kernel_init=_uniform(1.0 / math.sqrt(d)),
            bias_init=_torch_linear_bias(d),
            name="mlp_in",
        )(x)
        ff = nn.relu(ff)
        ff = nn.Dense(
            d,
            kernel_init=_uniform(1.0 / math.sqrt(self.d_ff)),
            bias_init=_torch_linear_bias(self.d_ff),
            name="mlp_out",
        )(ff)
        return nn.LayerNorm(epsilon=1e-5, name="ln2")(x + ff)


class TextTransformer(nn.Module):
    """Token + positional embedding, encoder blocks, a head (LM or classifier).

    ``__call__(token_ids)`` = ``from_embeddings(embed(token_ids))``.
    """

    vocab_size: int
    context: int
    num_layers: int = 3
    d_model: int = 96
    num_heads: int = 8
    d_ff: int = 1536
    causal: bool = True
    task: str = "causal_lm"
    num_classes: int | None = None
    tie_embeddings: bool = False
    pooling: str = "mean"

    def setup(self):
        self.token_embed = nn.Embed(
            self.vocab_size, self.d_model, embedding_init=_uniform(0.1), name="token_embed"
        )
        self.pos_embed = nn.Embed(
            self.context,
            self.d_model,
            embedding_init=nn.initializers.normal(1.0),
            name="pos_embed",
        )
        self.blocks = [
            EncoderBlock(self.d_model, self.num_heads, self.d_ff, self.causal, name=f"block_{i}")
            for i in range(self.num_layers)
        ]
        out = self.vocab_size if self.task == "causal_lm" else self.num_classes
        if self.tie_embeddings:
            self.head = _Bias(out, self.d_model, name="head")
        else:
            self.head = nn.Dense(
                out,
                kernel_init=_uniform(0.1),
                bias_init=_torch_linear_bias(self.d_model),
                name="head",
            )

    def embed(self, token_ids):
        return self.token_embed(token_ids)

    def features(self, embeddings):
        """The last block's outputs ``(B, T, D)`` for token embeddings ``(B, T, D)``."""
        t = embeddings.shape[1]
        if t > self.context:
            raise ValueError(
                f"token_ids: sequence length {t} exceeds the model's context of {self.context} "
                f"positions (context={self.context}); pass at most {self.context} tokens"
            )
        x = embeddings + self.pos_embed(jnp.arange(t))[None]
        for block in self.blocks:
            x = block(x)
        return x

    def pooled(self, embeddings):
        h = self.features(embeddings)
        return h.mean(axis=1) if self.pooling == "mean" else h[:, 0]

    def from_embeddings(self, embeddings):
        if self.task == "causal_lm":
            h = self.features(embeddings)[:, :-1]
        else:
            h = self.pooled(embeddings)
        if self.tie_embeddings:
            return self.head(self.token_embed.attend(h))
        return self.head(h)

    def __call__(self, token_ids):
        return self.from_embeddings(self.embed(token_ids))


def _layer_order(num_layers: int, tied: bool) -> tuple[PyTreePath, ...]:
    order: list[PyTreePath] = [POSITION_EMBEDDING_PATH]
    for i in range(num_layers):
        blk = f"block_{i}"
        for sub, leaves in (
            ("attn_qkv", ("kernel", "bias")),
            ("attn_out", ("kernel", "bias")),
            ("mlp_in", ("kernel", "bias")),
            ("mlp_out", ("kernel", "bias")),
            ("ln1", ("scale", "bias")),
            ("ln2", ("scale", "bias")),
        ):
            order += [(blk, sub, leaf) for leaf in leaves]
    order.append(TOKEN_EMBEDDING_PATH)
    if not tied:
        order.append(("head", "kernel"))
    order.append(("head", "bias"))
    return tuple(order)


def _check_int(fn: str, name: str, value, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{fn}: {name}={value!r}, expected an integer >= {lo}")
    return int(value)


def _build(
    fn: str,
    key: PRNGKey,
    *,
    vocab_size,
    context,
    num_layers,
    d_model,
    num_heads,
    d_ff,
    causal,
    task,
    num_classes,
    tie_embeddings,
    pooling,
    name,
) -> Model:
    vocab_size = _check_int(fn, "vocab_size", vocab_size, 2)
    context = _check_int(fn, "context", context, 2)
    num_layers = _check_int(fn, "num_layers", num_layers, 1)
    d_model = _check_int(fn, "d_model", d_model, 1)
    num_heads = _check_int(fn, "num_heads", num_heads, 1)
    d_ff = _check_int(fn, "d_ff", d_ff, 1)
    if d_model % num_heads:
        raise ValueError(
            f"{fn}: d_model={d_model} is not divisible by num_heads={num_heads}; expected "
            "d_model = num_heads * head_dim"
        )
    if pooling not in POOLINGS:
        raise ValueError(f"{fn}: pooling={pooling!r}, expected one of {POOLINGS}")
    module = TextTransformer(
        vocab_size=vocab_size,
        context=context,
        num_layers=num_layers,
        d_model=d_model,
        num_heads=num_heads,
        d_ff=d_ff,
        causal=bool(causal),
        task=task,
        num_classes=num_classes,
        tie_embeddings=bool(tie_embeddings),
        pooling=pooling,
    )
    # jitted: ~3x faster than Flax's op-by-op init; the parameter shapes do not depend on T
    variables = jax.jit(module.init)(key, jnp.zeros((1, 2), jnp.int32))
    params = variables["params"]
    tied = bool(tie_embeddings)

    def apply_fn(p, token_ids):
        return module.apply({"params": p}, token_ids)

    def embed_fn(p, token_ids):
        return module.apply({"params": p}, token_ids, method=TextTransformer.embed)

    def apply_embeddings(p, embeddings):
        return module.apply({"params": p}, embeddings, method=TextTransformer.from_embeddings)

    features_fn = None
    if task == "classification":

        def features_fn(p, token_ids):
            emb = embed_fn(p, token_ids)
            return module.apply({"params": p}, emb, method=TextTransformer.pooled)

    out = vocab_size if task == "causal_lm" else int(num_classes)
    return Model(
        apply_fn=apply_fn,
        params=params,
        input_shape=(context,),
        num_classes=out,
        classifier_kernel_path=TOKEN_EMBEDDING_PATH if tied else ("head", "kernel"),
        classifier_bias_path=("head", "bias"),
        features_fn=features_fn,
        bn_mode="none",
        name=name,
        layer_order=_layer_order(num_layers, tied),
        extra={
            "modality": "text",
            "task": task,
            "vocab_size": vocab_size,
            "context": context,
            "d_model": d_model,
            "causal": bool(causal),
            "tied": tied,
            "embed_fn": embed_fn,
            "apply_embeddings": apply_embeddings,
            "token_embedding_path": TOKEN_EMBEDDING_PATH,
            "position_embedding_path": POSITION_EMBEDDING_PATH,
            "layer_order": _layer_order(num_layers, tied),
        },
    )


def transformer_lm(
    key: PRNGKey,
    *,
    vocab_size: int,
    context: int = 16,
    num_layers: int = 3,
    d_model: int = 96,
    num_heads: int = 8,
    d_ff: int = 1536,
    causal: bool = True,
    tie_embeddings: bool = False,
    name: str | None = None,
) -> Model:
    """An untrained causal transformer LM as a :class:`Model` (see the module docstring).

    Args:
      key: PRNG key for the initialization.
      vocab_size: number of tokens ``V`` (rows of the token embedding, outputs of the head).
      context: the longest sequence the model accepts (rows of the positional embedding).
      num_layers: encoder blocks (1 to 3 in the issue; any positive number works).
      d_model, num_heads, d_ff: width, attention heads, feed-forward width.
      causal: mask attention to earlier positions (breaching's TAG case runs unmasked:
        ``causal=False``).
      tie_embeddings: use the token embedding as the head kernel (see "Tied weights").

    Returns:
      A Model whose ``apply_fn(params, token_ids (B, T)) -> (B, T - 1, V)`` next-token logits;
      its labels are :func:`lm_labels` ``(token_ids)``.
    """
    return _build(
        "transformer_lm",
        key,
        vocab_size=vocab_size,
        context=context,
        num_layers=num_layers,
        d_model=d_model,
        num_heads=num_heads,
        d_ff=d_ff,
        causal=causal,
        task="causal_lm",
        num_classes=None,
        tie_embeddings=tie_embeddings,
        pooling="mean",
        name=name or f"transformer_lm{num_layers}",
    )


def transformer3(
    key: PRNGKey, *, vocab_size: int, context: int = 16, causal: bool = True, **kwargs
) -> Model:
    """Breaching's ``transformer3``: 3 layers, ``d_model`` 96, 8 heads, feed-forward 1536,
    learnable positional embedding, untied head (~10.8 M parameters at GPT-2's 50257 tokens)."""
    kwargs.setdefault("name", "transformer3")
    return transformer_lm(
        key,
        vocab_size=vocab_size,
        context=context,
        num_layers=3,
        d_model=96,
        num_heads=8,
        d_ff=1536,
        causal=causal,
        **kwargs,
    )


def transformer_classifier(
    key: PRNGKey,
    *,
    vocab_size: int,
    num_classes: int,
    context: int = 16,
    num_layers: int = 1,
    d_model: int = 96,
    num_heads: int = 8,
    d_ff: int = 1536,
    causal: bool = False,
    pooling: str = "mean",
    name: str | None = None,
) -> Model:
    """An untrained transformer sequence classifier as a :class:`Model`.

    The same embeddings and blocks as :func:`transformer_lm` (bidirectional by default), then
    the mean (``pooling="mean"``) or the first position (``"first"``) of the last block's
    outputs, then a linear head to ``num_classes`` logits. ``apply_fn(params, token_ids (B, T))
    -> (B, num_classes)``; labels are class ids ``(B,)``.
    """
    num_classes = _check_int("transformer_classifier", "num_classes", num_classes, 1)
    return _build(
        "transformer_classifier",
        key,
        vocab_size=vocab_size,
        context=context,
        num_layers=num_layers,
        d_model=d_model,
        num_heads=num_heads,
        d_ff=d_ff,
        causal=causal,
        task="classification",
        num_classes=num_classes,
        tie_embeddings=False,
        pooling=pooling,
        name=name or f"transformer_classifier{num_layers}",
    )


# --------------------------------------------------------------------------------------------
# helpers for text models
# --------------------------------------------------------------------------------------------


def is_text_model(model: Model) -> bool:
    return isinstance(getattr(model, "extra", None), dict) and model.extra.get("modality") == "text"


def check_text_model(fn: str, model: Model) -> None:
    """Raise a clear error when ``model`` is not a text model from this module."""
    if not isinstance(model, Model) or not is_text_model(model):
        name = getattr(model, "name", type(model).__name__)
        raise ValueError(
            f"{fn}: model={name!r} is not a text model; expected one built by "
            "leakjax.models.transformer_lm / transformer3 / transformer_classifier "
            "(Model.extra['modality'] == 'text')"
        )


def layer_order(model: Model) -> tuple[PyTreePath, ...]:
    """The model's param paths in module order (``Model.layer_order`` once that field exists,
    else ``Model.extra["layer_order"]``)."""
    order = getattr(model, "layer_order", None) or model.extra.get("layer_order")
    if not order:
        raise ValueError(
            f"layer_order: model={model.name!r} records no layer order; expected "
            "Model.layer_order or Model.extra['layer_order']"
        )
    return tuple(tuple(p) for p in order)


def embedding_model(model: Model) -> Model:
    """The same network taking token *embeddings* ``(B, T, D)`` (the attacker's view).

    Its gradient (``leakjax.fl.client_gradient(embedding_model(m))``) has the params' structure;
    the token-embedding leaf is exactly zero (for a tied model it holds only the output side).
    """
    check_text_model("embedding_model", model)
    return model.replace(
        apply_fn=model.extra["apply_embeddings"],
        input_shape=(model.extra["context"], model.extra["d_model"]),
        name=f"{model.name}[embeddings]",
    )


def lm_labels(token_ids) -> jax.Array:
    """The LM's labels: the next token at every predicted position, ``token_ids[:, 1:]``."""
    token_ids = jnp.asarray(token_ids)
    if token_ids.ndim != 2 or token_ids.shape[1] < 2:
        raise ValueError(
            f"lm_labels: token_ids has shape {token_ids.shape}, expected (B, T) with T >= 2"
        )
    return token_ids[:, 1:]


def check_token_ids(token_ids, model: Model, *, name: str = "token_ids") -> None:
    """Raise a clear error for token ids that this text model cannot take.

    Checks the shape ``(B, T)`` with ``2 <= T <= context`` for an LM (``1 <= T`` for a
    classifier), an integer dtype and, for concrete arrays, values in ``[0, vocab_size)``.
    """
    check_text_model("check_token_ids", model)
    shape = tuple(np.shape(token_ids))
    context = model.extra["context"]
    vocab = model.extra["vocab_size"]
    lm = model.extra["task"] == "causal_lm"
    if len(shape) != 2 or shape[0] < 1:
        raise ValueError(f"{name}: shape {shape}, expected (B, T) integer token ids")
    if shape[1] > context:
        raise ValueError(
            f"{name}: sequence length {shape[1]} exceeds the model's context of {context} "
            f"positions (context={context}); pass at most {context} tokens"
        )
    if shape[1] < (2 if lm else 1):
        raise ValueError(
            f"{name}: sequence length {shape[1]}, expected at least 2 tokens for a language "
            "model (one input and one next-token label)"
        )
    dtype = token_ids.dtype if hasattr(token_ids, "dtype") else np.asarray(token_ids).dtype
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name}: dtype {dtype}, expected integer token ids")
    try:
        arr = np.asarray(token_ids)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return  # traced: values cannot be checked
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= vocab:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{name}: token id {bad} is out of the vocabulary; expected ids in [0, {vocab}) "
            f"for a model with vocab_size={vocab}"
        )


def token_embedding(model: Model, params: Params) -> jax.Array:
    """The token-embedding table ``(V, D)`` of ``params``."""
    node = params
    for k in model.extra["token_embedding_path"]:
        node = node[k]
    return node
