"""Generators: shapes/range, conditioning, training, msgpack checkpoints with validation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

from leakjax import generative
from leakjax.generative import (
    DCGANCritic,
    DCGANGenerator,
    dcgan_critic,
    dcgan_generator,
    generator_from_fn,
    load_generator,
    save_generator,
    train_generator,
)


@pytest.mark.parametrize("shape,up", [((28, 28, 1), 1), ((32, 32, 3), 1), ((28, 28, 1), 2)])
def test_generator_output_shapes(shape, up):
    """Shape-only check (jax.eval_shape: nothing is compiled)."""
    mod = DCGANGenerator(image_shape=shape, width=2, final_upsample=up)
    z, y = jnp.zeros((2, 4)), jnp.zeros((2,), jnp.int32)
    params = jax.eval_shape(mod.init, jax.random.key(0), z, y)
    out = jax.eval_shape(mod.apply, params, z, y)
    assert out.shape == (2, *shape)
    critic = DCGANCritic(image_shape=shape, width=2)
    cp = jax.eval_shape(critic.init, jax.random.key(0), jnp.zeros((2, *shape)), y)
    assert jax.eval_shape(critic.apply, cp, jnp.zeros((2, *shape)), y).shape == (2,)


def test_generator_tanh_range_and_unit_mapping():
    shape = (8, 8, 1)
    g = dcgan_generator(jax.random.key(0), image_shape=shape, latent_dim=4, width=2)
    x = g.apply_fn(g.params, 5.0 * jnp.ones((2, 4)), None)
    assert x.shape == (2, *shape)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    u = g.images01(g.params, jnp.zeros((1, 4)))
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    critic, cp = dcgan_critic(jax.random.key(1), image_shape=shape, width=2)
    assert critic(cp, x).shape == (2,)


def test_conditional_generator_uses_label():
    g = dcgan_generator(
        jax.random.key(0),
        image_shape=(8, 8, 1),
        latent_dim=4,
        width=4,
        num_classes=3,
        conditional=True,
    )
    z = jnp.ones((1, 4))
    a = g.apply_fn(g.params, z, jnp.array([0]))
    b = g.apply_fn(g.params, z, jnp.array([2]))
    assert float(jnp.max(jnp.abs(a - b))) > 1e-4
    with pytest.raises(ValueError, match="conditional"):
        g.apply_fn(g.params, z, None)


def test_train_generator_moves_params_and_calls_back():
    imgs = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    calls = []
    g, hist = train_generator(
        jax.random.key(1),
        imgs,
        jnp.arange(16) % 2,
        steps=3,
        batch_size=4,
        latent_dim=4,
        width=2,
        conditional=True,
        loss="wgan-gp",
        critic_steps=2,
        log_every=2,
        callback=lambda s, m: calls.append((s, m)),
        trained_on=dict(dataset="toy", split="public"),
    )
    assert [s for s, _ in calls] == [2, 3]
    assert all(np.isfinite(m["critic_loss"]) for _, m in calls)
    assert g.trained_on["split"] == "public" and g.trained_on["steps"] == 3
    # the same run with a zero learning rate keeps the initial weights: training moved them
    g0, _ = train_generator(
        jax.random.key(1),
        imgs,
        jnp.arange(16) % 2,
        steps=3,
        batch_size=4,
        latent_dim=4,
        width=2,
        conditional=True,
        loss="wgan-gp",
        critic_steps=2,
        log_every=3,
        learning_rate=0.0,
    )
    assert jax.tree.structure(g.params) == jax.tree.structure(g0.params)
    moved = [
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree.leaves(g.params), jax.tree.leaves(g0.params))
    ]
    assert min(moved) > 0.0, "a parameter tensor did not move"
    assert max(moved) > 1e-4  # Adam (lr 1e-4) moves each entry by ~lr per step
    z, y = jnp.ones((2, 4)), jnp.array([0, 1])
    assert float(jnp.max(jnp.abs(g(g.params, z, y) - g0(g0.params, z, y)))) > 1e-5
    with pytest.raises(ValueError, match="loss"):
        train_generator(jax.random.key(0), imgs, loss="vae")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_generator(jax.random.key(0), imgs * 3.0)


def test_checkpoint_roundtrip_and_validation(tmp_path):
    g = dcgan_generator(
        jax.random.key(0),
        image_shape=(8, 8, 1),
        latent_dim=4,
        width=4,
        num_classes=3,
        conditional=True,
        trained_on=dict(dataset="toy", split="public"),
    )
    path = str(tmp_path / "g.msgpack")
    save_generator(path, g)
    g2 = load_generator(path, image_shape=(8, 8, 1))
    assert g2.metadata() == g.metadata()
    z, y = jnp.ones((2, 4)), jnp.array([0, 2])
    np.testing.assert_allclose(g2(g2.params, z, y), g(g.params, z, y), atol=1e-6)
    assert generative.read_metadata(path)["trained_on"]["split"] == "public"
    # the model needs another shape
    with pytest.raises(ValueError, match="shape"):
        load_generator(path, image_shape=(28, 28, 1))
    # metadata that does not match the stored parameters (width changed)
    with open(path, "rb") as f:
        raw = serialization.msgpack_restore(f.read())
    meta = json.loads(raw["metadata"])
    meta["width"] = 8
    raw["metadata"] = json.dumps(meta)
    bad = str(tmp_path / "bad.msgpack")
    with open(bad, "wb") as f:
        f.write(serialization.msgpack_serialize(raw))
    with pytest.raises(ValueError, match="shape|match"):
        load_generator(bad)
    junk = str(tmp_path / "junk.msgpack")
    with open(junk, "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(ValueError):
        load_generator(junk)
    with pytest.raises(FileNotFoundError):
        load_generator(str(tmp_path / "missing.msgpack"))


def test_checkpoint_asking_for_huge_shapes_is_rejected_before_allocation(tmp_path, monkeypatch):
    from leakjax.generative import checkpoint

    g = dcgan_generator(jax.random.key(0), image_shape=(8, 8, 1), latent_dim=4, width=2)
    path = str(tmp_path / "g.msgpack")
    save_generator(path, g)
    with open(path, "rb") as f:
        raw = serialization.msgpack_restore(f.read())
    meta = json.loads(raw["metadata"])

    def write(**changes):
        bad = dict(raw, metadata=json.dumps({**meta, **changes}))
        out = str(tmp_path / "bad.msgpack")
        with open(out, "wb") as f:
            f.write(serialization.msgpack_serialize(bad))
        return out

    def no_build(*a, **k):
        raise AssertionError("the generator was built")

    monkeypatch.setattr(checkpoint, "build_dcgan", no_build)
    monkeypatch.setattr(checkpoint, "_restore_params", no_build)
    with pytest.raises(ValueError, match="image_shape height=1000000"):
        load_generator(write(image_shape=[1_000_000, 8, 1]))
    with pytest.raises(ValueError, match="width=100000"):
        load_generator(write(width=100_000))
    with pytest.raises(ValueError, match="latent_dim='a'"):
        load_generator(write(latent_dim="a"))
    # within every per-field cap, but the architecture would have billions of parameters:
    # found abstractly (jax.eval_shape), nothing allocated
    with pytest.raises(ValueError, match="SIZE_CAPS\\['parameters'\\]"):
        load_generator(write(image_shape=[2048, 2048, 3], width=2048, latent_dim=512))
    # a plausible size that does not add up to the stored parameters
    with pytest.raises(ValueError, match="do not match"):
        load_generator(write(width=64))


def test_generator_from_fn_checks_range_and_shape():
    params = {"w": jnp.ones((3, 64))}
    fn = lambda p, z, y: jnp.tanh(z @ p["w"]).reshape(-1, 8, 8, 1)
    g = generator_from_fn(fn, params, latent_dim=3, image_shape=(8, 8, 1), output_range="pm1")
    assert g.image_shape == (8, 8, 1)
    with pytest.raises(ValueError, match="output_range"):
        generator_from_fn(fn, params, latent_dim=3, image_shape=(8, 8, 1), output_range="unit")
    with pytest.raises(ValueError, match="shape"):
        generator_from_fn(fn, params, latent_dim=3, image_shape=(4, 16, 1))
    with pytest.raises(ValueError, match="architecture"):
        save_generator("/tmp/never_written.msgpack", g)


def test_cli_generator_errors_name_the_problem(tmp_path, tiny_lenet):
    from leakjax.generative.cli_commands import load_attack_generator

    with pytest.raises(ValueError, match="needs --generator"):
        load_attack_generator(None, tiny_lenet, "ggl")
    g = dcgan_generator(jax.random.key(0), image_shape=(16, 16, 1), latent_dim=4, width=2)
    path = str(tmp_path / "g16.msgpack")
    save_generator(path, g)
    with pytest.raises(ValueError, match=r"\(16, 16, 1\).*\(8, 8, 1\)"):
        load_attack_generator(path, tiny_lenet, "ggl")
    g8 = dcgan_generator(
        jax.random.key(0),
        image_shape=(8, 8, 1),
        latent_dim=4,
        width=2,
        num_classes=3,
        conditional=True,
    )
    save_generator(path, g8)
    with pytest.raises(ValueError, match="num-classes"):
        load_attack_generator(path, tiny_lenet, "ggl")
