"""Training a generator on a *public* split (WGAN-GP or the non-saturating DCGAN loss).

The training loop is a jitted ``lax.scan`` over ``log_every`` generator steps; between chunks
an optional ``callback(step, metrics)`` receives the chunk's mean losses (the CLI and the
benchmarks drive a tqdm progress bar with it; the library itself never prints).

Losses (critic ``D``, generator ``G``, real images ``x`` mapped to [-1, 1]):

* ``"wgan-gp"`` (Gulrajani et al. 2017, GGL's CelebA generator): critic
  ``E D(G(z)) - E D(x) + lambda E (||grad D(x_hat)||_2 - 1)^2`` with ``x_hat`` uniform on the
  segment between a real and a fake image, ``critic_steps`` critic updates per generator update,
  Adam(lr, b1=0.5, b2=0.9); generator ``-E D(G(z))``.
* ``"dcgan"`` (Radford et al. 2016, non-saturating): critic ``softplus(-D(x)) +
  softplus(D(G(z)))``, generator ``softplus(-D(G(z)))``, one critic step per generator step,
  Adam(lr, b1=0.5, b2=0.999).

Conditional generators receive the labels of the real batch, and so does the critic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.generative.models import Generator, dcgan_critic, dcgan_generator
from leakjax.types import PRNGKey

LOSSES = ("wgan-gp", "dcgan")


class GANState(NamedTuple):
    """Parameters and optimizer states of a generator/critic pair."""

    gen_params: Any
    critic_params: Any
    gen_opt: Any
    critic_opt: Any
    step: jax.Array


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"train_generator: {name}={value!r}, expected an integer >= {minimum}")


def train_generator(
    key: PRNGKey,
    images,
    labels=None,
    *,
    steps: int = 2000,
    batch_size: int = 64,
    latent_dim: int = 32,
    width: int = 32,
    num_classes: int | None = None,
    conditional: bool = False,
    final_upsample: int = 1,
    loss: str = "wgan-gp",
    critic_steps: int | None = None,
    gp_weight: float = 10.0,
    learning_rate: float | None = None,
    log_every: int = 100,
    callback: Callable[[int, dict], None] | None = None,
    trained_on: dict | None = None,
) -> tuple[Generator, dict]:
    """Train a DCGAN generator on ``images`` (float32 NHWC in [0, 1], a *public* split).

    Args:
      key: PRNG key (initial weights, latents, batches).
      images: ``(N, H, W, C)`` in [0, 1]; only public data belongs here.
      labels: ``(N,)`` int class ids (needed when ``conditional``).
      steps: generator updates.
      batch_size: images per step (sampled with replacement).
      latent_dim, width: generator size (see :func:`dcgan_generator`).
      num_classes: classes of ``labels`` (default: ``max(labels) + 1``, or 1 without labels).
      conditional: train a class-conditional generator and critic.
      final_upsample: see :func:`dcgan_generator` (2 = a ~4x cheaper generator).
      loss: ``"wgan-gp"`` or ``"dcgan"``.
      critic_steps: critic updates per generator update (default 5 for WGAN-GP, 1 for DCGAN).
      gp_weight: gradient-penalty weight lambda (WGAN-GP).
      learning_rate: Adam step size (default 1e-4 for WGAN-GP, 2e-4 for DCGAN).
      log_every: generator steps per compiled chunk; ``callback`` runs after each chunk.
      callback: ``callback(step, metrics)`` with the chunk's mean ``critic_loss``/``gen_loss``.
      trained_on: provenance stored in the generator's metadata (dataset name, split, ...).

    Returns:
      ``(generator, history)``; ``history`` holds per-chunk losses and the wall time.
    """
    if loss not in LOSSES:
        raise ValueError(f"train_generator: loss={loss!r}, expected one of {LOSSES}")
    for name, v in dict(steps=steps, batch_size=batch_size, log_every=log_every).items():
        _check_int(name, v)
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"train_generator: images.shape={images.shape}, expected (N, H, W, C)")
    if images.size and (images.min() < -1e-6 or images.max() > 1 + 1e-6):
        raise ValueError(
            f"train_generator: images span [{images.min():.3g}, {images.max():.3g}], expected "
            "[0, 1] (the library's image convention)"
        )
    if conditional and labels is None:
        raise ValueError("train_generator: conditional=True needs labels (N,)")
    lab = np.zeros((images.shape[0],), np.int32) if labels is None else np.asarray(labels, np.int32)
    if lab.shape != (images.shape[0],):
        raise ValueError(f"train_generator: labels.shape={lab.shape}, expected ({len(images)},)")
    if num_classes is None:
        num_classes = int(lab.max()) + 1 if labels is not None else 1
    critic_steps = (5 if loss == "wgan-gp" else 1) if critic_steps is None else critic_steps
    _check_int("critic_steps", critic_steps)
    lr = (1e-4 if loss == "wgan-gp" else 2e-4) if learning_rate is None else learning_rate
    b2 = 0.9 if loss == "wgan-gp" else 0.999
    shape = tuple(images.shape[1:])

    k_gen, k_crit, k_train = jax.random.split(key, 3)
    provenance = dict(trained_on or {})
    provenance.update(
        num_images=int(images.shape[0]), steps=int(steps), batch_size=int(batch_size), loss=loss
    )
    gen = dcgan_generator(
        k_gen,
        image_shape=shape,
        latent_dim=latent_dim,
        width=width,
        num_classes=num_classes,
        conditional=conditional,
        final_upsample=final_upsample,
        trained_on=provenance,
    )
    critic_fn, critic_params = dcgan_critic(
        k_crit, image_shape=shape, width=width, num_classes=num_classes, conditional=conditional
    )
    gen_tx = optax.adam(lr, b1=0.5, b2=b2)
    crit_tx = optax.adam(lr, b1=0.5, b2=b2)
    data = jnp.asarray(images) * 2.0 - 1.0
    data_labels = jnp.asarray(lab)
    n = images.shape[0]
    lbl = (lambda y: y) if conditional else (lambda y: None)

    def batch(k):
        idx = jax.random.randint(k, (batch_size,), 0, n)
        return data[idx], data_labels[idx]

    def fake(gp, k, y):
        z = jax.random.normal(k, (batch_size, latent_dim), jnp.float32)
        return gen.apply_fn(gp, z, lbl(y))

    def critic_loss(cp, gp, k):
        kb, kz, ke = jax.random.split(k, 3)
        x, y = batch(kb)
        xf = jax.lax.stop_gradient(fake(gp, kz, y))
        d_real, d_fake = critic_fn(cp, x, lbl(y)), critic_fn(cp, xf, lbl(y))
        if loss == "dcgan":
            return jnp.mean(jax.nn.softplus(-d_real) + jax.nn.softplus(d_fake))
        eps = jax.random.uniform(ke, (batch_size, 1, 1, 1))
        xh = eps * x + (1.0 - eps) * xf
        gx = jax.vmap(jax.grad(lambda xi, yi: critic_fn(cp, xi[None], lbl(yi[None]))[0]))(xh, y)
        norms = jnp.sqrt(jnp.sum(gx**2, axis=(1, 2, 3)) + 1e-12)
        return jnp.mean(d_fake) - jnp.mean(d_real) + gp_weight * jnp.mean((norms - 1.0) ** 2)

    def gen_loss(gp, cp, k):
        kb, kz = jax.random.split(k)
        _, y = batch(kb)
        d_fake = critic_fn(cp, fake(gp, kz, y), lbl(y))
        if loss == "dcgan":
            return jnp.mean(jax.nn.softplus(-d_fake))
        return -jnp.mean(d_fake)

    def gan_step(state: GANState, k):
        kc, kg = jax.random.split(k)

        def crit_body(carry, kk):
            cp, co = carry
            lc, g = jax.value_and_grad(critic_loss)(cp, state.gen_params, kk)
            upd, co = crit_tx.update(g, co, cp)
            return (optax.apply_updates(cp, upd), co), lc

        (cp, co), lcs = jax.lax.scan(
            crit_body, (state.critic_params, state.critic_opt), jax.random.split(kc, critic_steps)
        )
        lg, g = jax.value_and_grad(gen_loss)(state.gen_params, cp, kg)
        upd, go = gen_tx.update(g, state.gen_opt, state.gen_params)
        gp = optax.apply_updates(state.gen_params, upd)
        new = GANState(gp, cp, go, co, state.step + 1)
        return new, (jnp.mean(lcs), lg)

    @jax.jit
    def chunk(state, k, length_mask):
        def body(s, inp):
            kk, active = inp
            s2, m = gan_step(s, kk)
            s = jax.tree.map(lambda a, b: jnp.where(active, a, b), s2, s)
            return s, m

        keys = jax.random.split(k, log_every)
        state, (lc, lg) = jax.lax.scan(body, state, (keys, length_mask))
        w = length_mask.astype(jnp.float32)
        denom = jnp.maximum(jnp.sum(w), 1.0)
        return state, dict(critic_loss=jnp.sum(lc * w) / denom, gen_loss=jnp.sum(lg * w) / denom)

    state = GANState(
        gen.params,
        critic_params,
        gen_tx.init(gen.params),
        crit_tx.init(critic_params),
        jnp.zeros((), jnp.int32),
    )
    t0 = time.perf_counter()
    history: dict = dict(step=[], critic_loss=[], gen_loss=[])
    done = 0
    chunk_i = 0
    while done < steps:
        todo = min(log_every, steps - done)
        mask = jnp.arange(log_every) < todo
        state, m = chunk(state, jax.random.fold_in(k_train, chunk_i), mask)
        m = {name: float(v) for name, v in m.items()}
        done += todo
        chunk_i += 1
        history["step"].append(done)
        history["critic_loss"].append(m["critic_loss"])
        history["gen_loss"].append(m["gen_loss"])
        if callback is not None:
            callback(done, m)
    history["wall_time_s"] = time.perf_counter() - t0
    gen = gen.replace(params=state.gen_params)
    return gen, history
