"""Generators and critics (DCGAN / WGAN-GP style) and the pure :class:`Generator` they reduce to.

The generator maps a latent ``z`` of shape ``(N, latent_dim)`` (and, if conditional, integer
class ids ``(N,)``) to images ``(N, H, W, C)`` in its *output range*: ``"pm1"`` ([-1, 1], tanh,
as in GGL's WGAN-GP) or ``"unit"`` ([0, 1]). :meth:`Generator.images01` maps to [0, 1], the
library's image convention; attacks then apply ``spec.normalize`` to reach the model's input
space.

Architecture (``dcgan``, width ``w``): ``z (+ one-hot class)`` -> Dense to ``h0 x w0 x 2^k w`` ->
LayerNorm -> ReLU -> ``k`` stride-2 transposed convs (4w -> 2w -> w, each 4x4, LayerNorm + ReLU)
-> 3x3 conv to C -> tanh. ``k`` is the number of halvings of H that keep the base size >= 4
(at most 3): 28x28 starts at 7x7 (k = 2), 32x32 at 4x4 (k = 3, as GGL's CelebA WGAN-GP),
8x8 at 4x4 (k = 1). ``final_upsample=f`` runs the stack at ``H/f x W/f`` and ends with a fixed bilinear
``f``-times upsampling before the tanh: a ~4x cheaper generator (``f=2``), the CPU setting of the
digits benchmarks (the digits are 8x8 bitmaps upsampled to 28x28, so little detail is lost).
LayerNorm instead of BatchNorm keeps the generator a per-sample pure
function (no batch statistics), so one candidate of an attack's population is generated the
same way whatever the population size. The critic is the mirror image: stride-2 4x4 convs
with leaky ReLU (no normalization, as WGAN-GP requires), then a linear score; the conditional
critic takes the one-hot class as extra constant input channels.

References:
  Radford, Metz, Chintala, "Unsupervised representation learning with deep convolutional
  GANs" (DCGAN), ICLR 2016. Gulrajani et al., "Improved training of Wasserstein GANs"
  (WGAN-GP), NeurIPS 2017. Li et al., "Auditing privacy defenses in federated learning via
  generative gradient leakage" (GGL), CVPR 2022.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from leakjax.types import Array, PRNGKey

OUTPUT_RANGES = ("pm1", "unit")
ARCHITECTURES = ("dcgan",)


def num_upsamplings(size: int) -> int:
    """Number of stride-2 stages so that ``size / 2**k`` is an integer >= 4 (k <= 3)."""
    k = 0
    while k < 3 and size % (2 ** (k + 1)) == 0 and size // (2 ** (k + 1)) >= 4:
        k += 1
    return k


class DCGANGenerator(nn.Module):
    """``(z, labels) -> images`` in [-1, 1] (tanh); see the module docstring."""

    image_shape: tuple[int, int, int]
    width: int = 32
    num_classes: int = 0  # 0 = unconditional
    final_upsample: int = 1

    @nn.compact
    def __call__(self, z, labels=None):
        h, w, c = self.image_shape
        f = self.final_upsample
        h, w = h // f, w // f
        k = num_upsamplings(min(h, w))
        h0, w0 = h // 2**k, w // 2**k
        if self.num_classes:
            z = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1)
        ch = self.width * 2**k
        x = nn.Dense(h0 * w0 * ch, name="project")(z)
        x = x.reshape(z.shape[0], h0, w0, ch)
        x = nn.relu(nn.LayerNorm(name="norm0")(x))
        for i in range(k):
            ch = self.width * 2 ** (k - 1 - i)
            x = nn.ConvTranspose(ch, (4, 4), strides=(2, 2), padding="SAME", name=f"up{i}")(x)
            x = nn.relu(nn.LayerNorm(name=f"norm{i + 1}")(x))
        x = nn.Conv(c, (3, 3), padding="SAME", name="to_image")(x)
        if f > 1:
            x = jax.image.resize(x, (x.shape[0], h * f, w * f, c), "bilinear")
        return jnp.tanh(x)


class DCGANCritic(nn.Module):
    """``(images in [-1, 1], labels) -> (N,)`` scores (no normalization; WGAN-GP safe)."""

    image_shape: tuple[int, int, int]
    width: int = 32
    num_classes: int = 0

    @nn.compact
    def __call__(self, x, labels=None):
        h, w, _ = self.image_shape
        k = max(num_upsamplings(min(h, w)), 1)
        if self.num_classes:
            onehot = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
            maps = jnp.broadcast_to(onehot[:, None, None, :], (*x.shape[:3], self.num_classes))
            x = jnp.concatenate([x, maps], -1)
        for i in range(k):
            x = nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2), padding="SAME", name=f"c{i}")(x)
            x = nn.leaky_relu(x, 0.2)
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(1, name="score")(x)[:, 0]


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
    """A generator reduced to a pure function plus the facts attacks need.

    Attributes:
      apply_fn: pure ``apply_fn(params, z, labels) -> images`` with ``z`` ``(N, latent_dim)``,
        ``labels`` int ``(N,)`` (ignored when unconditional; may be ``None`` then) and images
        ``(N, *image_shape)`` in ``output_range``.
      params: generator parameters (a pytree).
      latent_dim: size of ``z``.
      image_shape: ``(H, W, C)`` of the generated images.
      num_classes: classes of the conditioning label (0 when unconditional).
      conditional: whether ``apply_fn`` uses ``labels``.
      output_range: ``"pm1"`` ([-1, 1]) or ``"unit"`` ([0, 1]).
      latent_distribution: the prior ``z`` was trained with (``"normal"`` = N(0, I)).
      architecture: ``"dcgan"`` for the built-in one (checkpoints can rebuild it), or any other
        name for a generator brought by the user with :func:`generator_from_fn`.
      width: base channel width of the built-in architecture.
      final_upsample: final bilinear upsampling factor of the built-in architecture.
      trained_on: provenance: dataset name, split (``"public"``), number of images, steps...
    """

    apply_fn: Callable[..., Array]
    params: Any
    latent_dim: int
    image_shape: tuple[int, int, int]
    num_classes: int = 0
    conditional: bool = False
    output_range: str = "pm1"
    latent_distribution: str = "normal"
    architecture: str = "custom"
    width: int = 0
    final_upsample: int = 1
    trained_on: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.output_range not in OUTPUT_RANGES:
            raise ValueError(
                f"Generator: output_range={self.output_range!r}, expected one of {OUTPUT_RANGES}"
            )
        shape = tuple(int(s) for s in self.image_shape)
        if len(shape) != 3 or min(shape) <= 0:
            raise ValueError(f"Generator: image_shape={self.image_shape!r}, expected (H, W, C)")
        object.__setattr__(self, "image_shape", shape)
        if int(self.latent_dim) < 1:
            raise ValueError(f"Generator: latent_dim={self.latent_dim!r}, expected >= 1")
        if self.conditional and int(self.num_classes) < 1:
            raise ValueError(
                f"Generator: conditional=True needs num_classes >= 1, got {self.num_classes!r}"
            )

    def __call__(self, params, z, labels=None) -> Array:
        return self.apply_fn(params, z, labels)

    def to_unit(self, images: Array) -> Array:
        """Map images in the output range to [0, 1] (not clipped)."""
        return (images + 1.0) * 0.5 if self.output_range == "pm1" else images

    def images01(self, params, z, labels=None) -> Array:
        """Generate and map to [0, 1] (the library's image convention)."""
        return self.to_unit(self.apply_fn(params, z, labels))

    def sample(self, key: PRNGKey, num: int, labels=None, params=None) -> Array:
        """``num`` samples in [0, 1] from the latent prior (labels default to ``i % C``)."""
        params = self.params if params is None else params
        z = jax.random.normal(key, (num, self.latent_dim), jnp.float32)
        if self.conditional and labels is None:
            labels = jnp.arange(num) % self.num_classes
        return self.images01(params, z, labels)

    def replace(self, **changes) -> Generator:
        return dataclasses.replace(self, **changes)

    def metadata(self) -> dict:
        """JSON-able description stored next to a checkpoint."""
        return dict(
            format="leakjax-generator/1",
            architecture=self.architecture,
            width=int(self.width),
            final_upsample=int(self.final_upsample),
            latent_dim=int(self.latent_dim),
            image_shape=list(self.image_shape),
            num_classes=int(self.num_classes),
            conditional=bool(self.conditional),
            output_range=self.output_range,
            latent_distribution=self.latent_distribution,
            trained_on=dict(self.trained_on),
        )


def _validate_int(fn: str, name: str, value, minimum: int = 1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{fn}: {name}={value!r}, expected an integer >= {minimum}")


def _modules(image_shape, width, num_classes, final_upsample=1):
    return (
        DCGANGenerator(
            image_shape=image_shape,
            width=width,
            num_classes=num_classes,
            final_upsample=final_upsample,
        ),
        DCGANCritic(image_shape=image_shape, width=width, num_classes=num_classes),
    )


def dcgan_generator(
    key: PRNGKey,
    *,
    image_shape=(28, 28, 1),
    latent_dim: int = 32,
    width: int = 32,
    num_classes: int = 10,
    conditional: bool = False,
    final_upsample: int = 1,
    trained_on: dict | None = None,
) -> Generator:
    """A freshly initialised DCGAN generator (tanh output in [-1, 1]).

    Args:
      key: PRNG key for the initial weights.
      image_shape: ``(H, W, C)``, e.g. ``(28, 28, 1)`` (digits/MNIST) or ``(32, 32, 3)``.
      latent_dim: size of ``z``.
      width: base channel width ``w``.
      num_classes: classes of the conditioning label (used only when ``conditional``).
      conditional: feed the one-hot class to the generator.
      final_upsample: run the conv stack at ``1/final_upsample`` resolution and upsample
        bilinearly at the end (``H`` and ``W`` must be divisible by it).
      trained_on: provenance dict stored with checkpoints.
    """
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape[:2]) < 4 or shape[2] < 1:
        raise ValueError(f"dcgan_generator: image_shape={image_shape!r}, expected (H, W, C), H>=4")
    _validate_int("dcgan_generator", "latent_dim", latent_dim)
    _validate_int("dcgan_generator", "width", width)
    _validate_int("dcgan_generator", "num_classes", num_classes)
    _validate_int("dcgan_generator", "final_upsample", final_upsample)
    if shape[0] % final_upsample or shape[1] % final_upsample or shape[0] // final_upsample < 4:
        raise ValueError(
            f"dcgan_generator: final_upsample={final_upsample!r} must divide H and W of "
            f"image_shape={shape} and leave at least 4 pixels"
        )
    ncond = num_classes if conditional else 0
    gen_module, _ = _modules(shape, width, ncond, final_upsample)
    z = jnp.zeros((1, latent_dim), jnp.float32)
    params = gen_module.init(key, z, jnp.zeros((1,), jnp.int32))["params"]
    return build_dcgan(
        params,
        image_shape=shape,
        latent_dim=latent_dim,
        width=width,
        num_classes=num_classes,
        conditional=conditional,
        final_upsample=final_upsample,
        trained_on=trained_on or {},
    )


def build_dcgan(
    params,
    *,
    image_shape,
    latent_dim,
    width,
    num_classes,
    conditional,
    final_upsample=1,
    trained_on=None,
) -> Generator:
    """Wrap DCGAN generator ``params`` into a :class:`Generator` (used by checkpoint loading)."""
    shape = tuple(int(s) for s in image_shape)
    gen_module, _ = _modules(shape, width, num_classes if conditional else 0, final_upsample)

    def apply_fn(p, z, labels=None):
        if conditional and labels is None:
            raise ValueError("Generator: this generator is conditional; pass labels (N,)")
        if labels is None:
            labels = jnp.zeros((z.shape[0],), jnp.int32)
        return gen_module.apply({"params": p}, z, labels)

    return Generator(
        apply_fn=apply_fn,
        params=params,
        latent_dim=int(latent_dim),
        image_shape=shape,
        num_classes=int(num_classes),
        conditional=bool(conditional),
        output_range="pm1",
        architecture="dcgan",
        width=int(width),
        final_upsample=int(final_upsample),
        trained_on=dict(trained_on or {}),
    )


def dcgan_critic(
    key: PRNGKey,
    *,
    image_shape=(28, 28, 1),
    width: int = 32,
    num_classes: int = 10,
    conditional: bool = False,
):
    """A DCGAN/WGAN-GP critic: returns ``(apply_fn(params, x_pm1, labels) -> (N,), params)``."""
    shape = tuple(int(s) for s in image_shape)
    _, critic = _modules(shape, width, num_classes if conditional else 0)
    params = critic.init(key, jnp.zeros((1, *shape)), jnp.zeros((1,), jnp.int32))["params"]

    def apply_fn(p, x, labels=None):
        if labels is None:
            labels = jnp.zeros((x.shape[0],), jnp.int32)
        return critic.apply({"params": p}, x, labels)

    return apply_fn, params


def generator_from_fn(
    apply_fn: Callable[..., Array],
    params: Any,
    *,
    latent_dim: int,
    image_shape,
    output_range: str = "pm1",
    num_classes: int = 0,
    conditional: bool = False,
    trained_on: dict | None = None,
) -> Generator:
    """Bring your own generator: any pure ``apply_fn(params, z, labels) -> images``.

    The output shape and range are checked on a few latents (see
    :func:`leakjax.generative.check_generator`).
    """
    _validate_int("generator_from_fn", "latent_dim", latent_dim)
    gen = Generator(
        apply_fn=apply_fn,
        params=params,
        latent_dim=latent_dim,
        image_shape=tuple(image_shape),
        num_classes=num_classes,
        conditional=conditional,
        output_range=output_range,
        trained_on=dict(trained_on or {}),
    )
    check_generator(gen)
    return gen


def check_generator(gen: Generator, *, num_samples: int = 4, tol: float = 1e-3) -> None:
    """Generate a few samples and raise ValueError if their shape or range is not as declared."""
    key = jax.random.key(0)
    z = jax.random.normal(key, (num_samples, gen.latent_dim), jnp.float32)
    labels = jnp.arange(num_samples) % max(gen.num_classes, 1)
    out = gen.apply_fn(gen.params, z, labels if gen.conditional else None)
    shape = tuple(jnp.shape(out))
    if shape != (num_samples, *gen.image_shape):
        raise ValueError(
            f"generator: output shape {shape} for {num_samples} latents, expected "
            f"({num_samples}, {', '.join(map(str, gen.image_shape))}) (the declared image_shape)"
        )
    lo, hi = (-1.0, 1.0) if gen.output_range == "pm1" else (0.0, 1.0)
    omin, omax = float(jnp.min(out)), float(jnp.max(out))
    if not (jnp.isfinite(omin) and jnp.isfinite(omax)) or omin < lo - tol or omax > hi + tol:
        raise ValueError(
            f"generator: outputs span [{omin:.4g}, {omax:.4g}], outside the declared "
            f"output_range={gen.output_range!r} = [{lo}, {hi}]; declare the right range "
            "(or end the generator with tanh for 'pm1' / sigmoid for 'unit')"
        )


def check_generator_fits(gen: Generator, input_shape, *, what: str = "generator") -> None:
    """Raise ValueError when the generator's images cannot be fed to a model of ``input_shape``."""
    if tuple(gen.image_shape) != tuple(int(s) for s in input_shape):
        raise ValueError(
            f"{what}: generates images of shape {tuple(gen.image_shape)} but the model expects "
            f"{tuple(int(s) for s in input_shape)}; train or load a generator for this input shape"
        )
